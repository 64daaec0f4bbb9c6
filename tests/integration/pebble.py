"""The real pebble ACME server and pebble-challtestsrv (Debian's), on loopback."""
import json
import os
import ssl
import subprocess
import urllib.request

from cin import free_port, wait_for

EAB_KID = "kid-1"
EAB_HMAC = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"


def _port_open(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Pebble:
    def __init__(self, base, http_port, eab=False, validity=None, nonce_reject=5,
                 alternate_roots=0, tls_port=None, name="pebble", dns_server=None):
        self.base = os.path.join(base, name)
        os.makedirs(self.base, exist_ok=True)
        self.port, self.mgmt = free_port(), free_port()
        self.dns, self.chall_mgmt = free_port(), free_port()
        self.cert = os.path.join(self.base, "cert.pem")
        key = os.path.join(self.base, "key.pem")
        # pebble's HTTPS listener: a certificate the tests make
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", self.cert,
                        "-subj", "/CN=pebble-test", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "30"],
                       check=True, capture_output=True)
        cfg = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt}",
            "certificate": self.cert, "privateKey": key,
            "httpPort": http_port, "tlsPort": tls_port or free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": eab,
            "externalAccountMACKeys": {EAB_KID: EAB_HMAC},
        }}
        if validity:
            cfg["pebble"]["certificateValidityPeriod"] = validity
        self.config = os.path.join(self.base, "pebble.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.env = dict(os.environ, PEBBLE_VA_NOSLEEP="1",
                        PEBBLE_WFE_NONCEREJECT=str(nonce_reject),
                        PEBBLE_ALTERNATE_ROOTS=str(alternate_roots))
        self.proc = self.chall = None
        self.dns_server = dns_server  # HOST:PORT pebble's VA asks instead of challtestsrv
        self.log_path = os.path.join(self.base, "pebble.log")

    @property
    def directory(self):
        return f"https://127.0.0.1:{self.port}/dir"

    def start(self):
        if not self.chall and not self.dns_server:
            self.chall = subprocess.Popen(
                ["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                 "-dns01", f"127.0.0.1:{self.dns}", "-http01", "", "-https01", "",
                 "-tlsalpn01", "", "-management", f"127.0.0.1:{self.chall_mgmt}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert wait_for(lambda: _port_open(self.chall_mgmt), 10)
        log = open(self.log_path, "a")
        dns = self.dns_server or f"127.0.0.1:{self.dns}"
        self.proc = subprocess.Popen(["pebble", "-config", self.config, "-dnsserver", dns],
                                     env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        assert wait_for(lambda: _port_open(self.port) and _port_open(self.mgmt), 15)
        return self

    def stop_pebble(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def stop(self):
        self.stop_pebble()
        if self.chall:
            self.chall.terminate()
            self.chall.wait(10)
            self.chall = None

    def _mgmt(self, path, data=None):
        ctx = ssl._create_unverified_context()
        req = urllib.request.Request(f"https://127.0.0.1:{self.mgmt}{path}", data=data)
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.read().decode()

    def root_pem(self, n=0):
        return self._mgmt(f"/roots/{n}")

    def intermediate_pem(self, n=0):
        """The intermediate that signs pebble's certificates (in every chain it gives)."""
        return self._mgmt(f"/intermediates/{n}")

    def cert_status(self, serial_hex):
        try:
            return json.loads(self._mgmt(f"/cert-status-by-serial/{serial_hex}"))
        except urllib.error.HTTPError as e:
            return {"error": e.code}

    def resolve(self, host, address):
        """Make challtestsrv answer A queries for host with address."""
        clear = json.dumps({"host": host}).encode()
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{self.chall_mgmt}/clear-a", data=clear), timeout=10).read()
        body = json.dumps({"host": host, "addresses": [address]}).encode()
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{self.chall_mgmt}/add-a", data=body), timeout=10).read()

    def log(self):
        with open(self.log_path) as f:
            return f.read()
