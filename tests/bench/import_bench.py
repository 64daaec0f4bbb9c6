#!/usr/bin/env python3
"""make bench, import: N PEM pairs (CERT.crt + CERT.key, signed by one private
CA) imported by `certinext import` in one run, timed; each is then an active
certificate in the store (what the servers' index serves).

Run alone: /usr/bin/python3 tests/bench/import_bench.py [N]  (default 10 000)."""
import datetime
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from cin import cli, rmtree, workdir  # noqa: E402

DOMAIN = "import-bench.com"


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pairs(d, n):
    """n leaf certificates with their own P-256 keys, signed by one private CA."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Import Bench CA"))
          .issuer_name(_name("Import Bench CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=90))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        host = f"h{i:05d}.{DOMAIN}"
        cert = (x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=60))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        with open(os.path.join(d, f"{host}.crt"), "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
        with open(os.path.join(d, f"{host}.key"), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))


def run(n=10000, base=None):
    """Import n pairs into a fresh store; prints and returns the seconds taken."""
    own = base is None
    base = base or workdir()
    try:
        store = os.path.join(base, "import.db")
        cli(store, "init")
        cli(store, "account", "create", "bench")
        cli(store, "user", "create", "--account", "bench", "--name", "bench-admin", "--role",
            "admin")
        cli(store, "domain", "add", "--account", "bench", DOMAIN)
        pairs = os.path.join(base, "pairs")
        os.mkdir(pairs)
        t = time.monotonic()
        make_pairs(pairs, n)
        made = time.monotonic() - t
        t = time.monotonic()
        p = cli(store, "import", "--account", "bench", "--quiet", pairs)
        took = time.monotonic() - t
        last = p.stdout.strip().splitlines()[-1]
        assert last.startswith(f"imported {n}, already there 0, failed 0"), last
        count = subprocess.run(["sqlite3", store, "SELECT count(*) FROM certificates WHERE"
                                " status = 'active'"], capture_output=True, text=True,
                               check=True).stdout.strip()
        assert count == str(n), count
        print(f"  {n} PEM pairs (made in {made:.1f} s) imported in {took:.1f} s "
              f"({n / took:.0f}/s, one transaction each; store "
              f"{os.path.getsize(store) / 1e6:.0f} MB); `{last}`", flush=True)
        return took
    finally:
        if own:
            rmtree(base)


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
