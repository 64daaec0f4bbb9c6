"""Debian's Knot DNS as the authoritative server of test zones, on loopback, with a TSIG
key allowed to update them (RFC 2136)."""
import base64
import os
import subprocess

from cin import free_port, wait_for

KEY_NAME = "certinext-test"


def _answers(port):
    p = subprocess.run(["kdig", "@127.0.0.1", "-p", str(port), "+short", "+timeout=1",
                        "+retry=0", "SOA", "example.com"], capture_output=True, text=True)
    return p.returncode == 0 and "hostmaster" in p.stdout


class Knot:
    def __init__(self, base, zones=("example.com",)):
        self.dir = os.path.join(base, "knot")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.secret = base64.b64encode(os.urandom(32)).decode()
        self.zones = zones
        for z in zones:
            with open(os.path.join(self.dir, f"{z}.zone"), "w") as f:
                f.write(f"$ORIGIN {z}.\n$TTL 60\n"
                        f"@ SOA ns1.{z}. hostmaster.{z}. 1 60 60 600 60\n"
                        f"@ NS ns1.{z}.\nns1 A 127.0.0.1\n")
        zone_conf = "".join(f"  - domain: {z}\n    file: {z}.zone\n    acl: update\n"
                            for z in zones)
        self.conf = os.path.join(self.dir, "knot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""server:
    listen: 127.0.0.1@{self.port}
    rundir: {self.dir}
log:
  - target: {self.dir}/knot.log
    any: info
database:
    storage: {self.dir}
key:
  - id: {KEY_NAME}
    algorithm: hmac-sha256
    secret: {self.secret}
acl:
  - id: update
    key: {KEY_NAME}
    action: update
template:
  - id: default
    storage: {self.dir}
    zonefile-sync: -1
    journal-content: none
zone:
{zone_conf}""")
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def key_file(self, secret=None):
        """The key as BIND's and Knot's tools write it."""
        path = os.path.join(self.dir, "wrong.key" if secret else "tsig.key")
        with open(path, "w") as f:
            f.write(f'key "{KEY_NAME}" {{\n\talgorithm hmac-sha256;\n'
                    f'\tsecret "{secret or self.secret}";\n}};\n')
        return path

    def start(self):
        self.proc = subprocess.Popen(["knotd", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert wait_for(lambda: _answers(self.port), 10), "knotd did not start"
        return self

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def txt(self, name):
        p = subprocess.run(["kdig", "@127.0.0.1", "-p", str(self.port), "+short", "TXT", name],
                           capture_output=True, text=True, check=True)
        return [ln.strip().strip('"') for ln in p.stdout.splitlines() if ln.strip()]

    def update(self, *commands, zone="example.com"):
        """knsupdate with the test key: "add NAME TTL TXT VALUE" lines."""
        script = f"server 127.0.0.1 {self.port}\nzone {zone}\n" \
            f"key hmac-sha256:{KEY_NAME} {self.secret}\n" + "\n".join(commands) + "\nsend\n"
        subprocess.run(["knsupdate"], input=script, text=True, check=True, capture_output=True)
