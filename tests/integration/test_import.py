"""certinext import: certificates really obtained by Debian's certbot and by
Debian's mod_md from a pebble the test starts, imported and served at once."""
import os
import socket
import ssl
import subprocess

import pytest

from cin import free_port, handshake, serial_of_der, wait_for
from pebble import Pebble
from servers import APACHE_MODULES, SERVERS, Nginx


def _serial_of_pem(path):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", path],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1].lower().lstrip("0")


def _import(store, *args):
    return store.cli("import", "--account", "acme", *args, check=False)


def test_certbot_live_directory_imported_and_served(base, store):
    http_port = free_port()
    pebble = Pebble(base, http_port, nonce_reject=0).start()
    le = os.path.join(base, "letsencrypt")
    try:
        env = dict(os.environ, REQUESTS_CA_BUNDLE=pebble.cert)
        p = subprocess.run(
            ["certbot", "certonly", "--standalone", "--non-interactive", "--agree-tos",
             "--register-unsafely-without-email", "--server", pebble.directory,
             "--http-01-port", str(http_port), "--http-01-address", "127.0.0.1",
             "--config-dir", le, "--work-dir", os.path.join(base, "le-work"),
             "--logs-dir", os.path.join(base, "le-logs"), "--key-type", "ecdsa",
             "-d", "certbot.example.com", "-d", "www.certbot.example.com"],
            capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        pebble.stop()
    live = os.path.join(le, "live", "certbot.example.com")
    assert os.path.islink(os.path.join(live, "fullchain.pem"))  # certbot's own layout
    serial = _serial_of_pem(os.path.join(live, "cert.pem"))
    ngx = Nginx(base, store).start()
    try:
        fallback = handshake(ngx.https_port, "certbot.example.com")[0]
        # certbot's whole config directory: live/ is found, archive/ left alone
        p = _import(store, le)
        assert p.returncode == 0, p.stderr
        assert "imported 1, already there 0, failed 0" in p.stdout, p.stdout
        row = store.sql("SELECT kind, status, price, product, sans FROM orders")
        assert row == 'import|issued|0|dv-multi|["certbot.example.com","www.certbot.example.com"]'
        # served at once, by both names, with pebble's chain
        assert wait_for(lambda: handshake(ngx.https_port, "www.certbot.example.com")[0].lstrip("0")
                        == serial, 10)
        assert handshake(ngx.https_port, "certbot.example.com")[0].lstrip("0") == serial != fallback
        # the key is sealed in the store, never stored as PEM
        assert store.sql("SELECT count(*) FROM private_keys WHERE sealed LIKE '%PRIVATE%'") == "0"
        # a second import of the same directory changes nothing
        p = _import(store, os.path.join(le, "live"))
        assert "imported 0, already there 1" in p.stdout
        assert store.sql("SELECT count(*) FROM orders") == "1"
    finally:
        ngx.stop()


def _md_conf(base, http_port, https_port, pebble):
    md_dir = os.path.join(base, "md")
    conf = os.path.join(base, "md-httpd.conf")
    with open(conf, "w") as f:
        f.write(f"""ServerRoot {base}
DefaultRuntimeDir {base}
PidFile {base}/md-httpd.pid
Mutex file:{base} default
LoadModule mpm_event_module {APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module {APACHE_MODULES}/mod_authz_core.so
LoadModule socache_shmcb_module {APACHE_MODULES}/mod_socache_shmcb.so
LoadModule ssl_module {APACHE_MODULES}/mod_ssl.so
LoadModule md_module {APACHE_MODULES}/mod_md.so
User www-data
Group www-data
ServerName localhost
ErrorLog {base}/md-error.log
LogLevel info md:debug
Listen 127.0.0.1:{http_port}
Listen 127.0.0.1:{https_port}
MDStoreDir {md_dir}
MDCertificateAuthority {pebble.directory}
MDCACertificateFile {pebble.cert}
MDCertificateAgreement accepted
MDContactEmail hostmaster@example.com
MDPortMap http:{http_port} https:{https_port}
MDCAChallenges http-01
MDRetryDelay 1s
MDomain md.example.com www.md.example.com
<VirtualHost 127.0.0.1:{https_port}>
    ServerName md.example.com
    ServerAlias www.md.example.com
    SSLEngine on
</VirtualHost>
""")
    return conf, md_dir


def test_mod_md_store_imported_and_served(base, store):
    http_port, https_port = free_port(), free_port()
    pebble = Pebble(base, http_port, nonce_reject=0).start()
    conf, md_dir = _md_conf(base, http_port, https_port, pebble)

    def ctl(*args):
        return subprocess.run(["apache2", "-d", base, "-f", conf, *args], capture_output=True,
                              text=True)

    def log():
        try:
            with open(os.path.join(base, "md-error.log")) as f:
                return f.read()
        except OSError:
            return ""
    try:
        p = ctl("-k", "start")
        assert p.returncode == 0, p.stderr
        # mod_md obtains the certificate in the background, into its staging area,
        # and activates it at the next graceful restart
        staged = os.path.join(md_dir, "staging", "md.example.com", "pubcert.pem")
        assert wait_for(lambda: os.path.exists(staged), 90, 0.5), log()[-4000:]
        p = ctl("-k", "graceful")
        assert p.returncode == 0, p.stderr
        active = os.path.join(md_dir, "domains", "md.example.com", "pubcert.pem")
        assert wait_for(lambda: os.path.exists(active), 30, 0.5), log()[-4000:]
    finally:
        ctl("-k", "stop")
        wait_for(lambda: subprocess.run(["pgrep", "-f", conf], capture_output=True).returncode,
                 15, 0.2)
        pebble.stop()
    serial = _serial_of_pem(active)
    os.mkdir(os.path.join(base, "n"))
    ngx = Nginx(os.path.join(base, "n"), store).start()
    try:
        # mod_md's whole store: domains/ is read; staging/, archive/, accounts/ are not
        p = _import(store, md_dir)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "imported 1, already there 0, failed 0" in p.stdout, p.stdout
        assert store.sql("SELECT common_name, kind FROM orders") == "md.example.com|import"
        assert wait_for(lambda: handshake(ngx.https_port, "md.example.com")[0].lstrip("0")
                        == serial, 10), (serial, store.sql("SELECT serial FROM certificates"))
        assert handshake(ngx.https_port, "www.md.example.com")[0].lstrip("0") == serial
    finally:
        ngx.stop()


def _self_signed_pem(base, name, newkey):
    """A PEM file holding a self-signed certificate for name and its key."""
    key, crt = os.path.join(base, name + ".key"), os.path.join(base, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", key, "-out", crt,
                    "-subj", "/CN=" + name, "-addext", "subjectAltName=DNS:" + name,
                    "-days", "30"], check=True, capture_output=True)
    pem = os.path.join(base, name + ".pem")
    with open(pem, "w") as out:
        out.write(open(crt).read() + open(key).read())
    return pem, _serial_of_pem(crt)


def _served(port, sni, version):
    """The serial a full handshake of this TLS version presents for sni (the client at
    Debian's default security level, which takes an RSA 2048 key)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            return serial_of_der(t.getpeercert(binary_form=True)).lstrip("0")


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_certificate_the_servers_security_level_refuses_leaves_its_own(base, store, kind):
    """A customer may import a certificate whose key the server's TLS settings do not
    allow (an RSA 2048 key under OpenSSL's security level 3). Its handshakes get the
    server's own certificate - they do not fail - and the log says why, once; another
    certificate of the same store is served as usual, and at the default level the
    imported one is served too."""
    rsa, rsa_serial = _self_signed_pem(base, "rsa.example.com", ["-newkey", "rsa:2048"])
    ec, ec_serial = _self_signed_pem(base, "ec.example.com",
                                     ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
    p = _import(store, rsa, ec)
    assert p.returncode == 0 and "imported 2, already there 0, failed 0" in p.stdout, \
        p.stdout + p.stderr
    level3 = {"nginx": {"extra_http": "ssl_ciphers DEFAULT:@SECLEVEL=3;"},
              "httpd": {"extra_conf": "SSLCipherSuite DEFAULT:@SECLEVEL=3"}}[kind]
    strict_dir = os.path.join(base, "level3")
    os.mkdir(strict_dir)
    srv = SERVERS[kind](strict_dir, store, **level3).start()
    try:
        own = _serial_of_pem(srv.fallback)
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            for _ in range(3):  # each worker's first and later handshakes alike
                assert _served(srv.https_port, "rsa.example.com", version) == own
                assert _served(srv.https_port, "ec.example.com", version) == ec_serial
        assert wait_for(lambda: "refused by this server's TLS settings" in srv.log(), 10)
        lines = [ln for ln in srv.log().splitlines() if "refused by this server's TLS" in ln]
        assert all("rsa.example.com" in ln and "2048 bits; security level 3" in ln
                   for ln in lines), lines
        # once per worker or child that loaded it, not once per handshake (12 of them)
        assert 1 <= len(lines) <= 4, lines
    finally:
        srv.stop()
    default_dir = os.path.join(base, "default")
    os.mkdir(default_dir)
    srv = SERVERS[kind](default_dir, store).start()
    try:
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            assert _served(srv.https_port, "rsa.example.com", version) == rsa_serial
        assert "refused by this server's TLS settings" not in srv.log()
    finally:
        srv.stop()


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_cache_misses_are_answered_from_the_hosts_shared_cache(base, store, kind):
    """A certificate a handshake's cache miss has read once is read again from the
    host's shared cache, not from the store: with a parsed-certificate cache of one,
    two names alternate and every handshake misses; once the store's chains can no
    longer be parsed, both names are still served with the shared cache, and the
    server's own certificate is presented for the evicted one without it (the
    control)."""
    a, a_serial = _self_signed_pem(base, "a.shared.example.com",
                                   ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
    b, b_serial = _self_signed_pem(base, "b.shared.example.com",
                                   ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
    p = _import(store, a, b)
    assert p.returncode == 0 and "imported 2, already there 0, failed 0" in p.stdout, \
        p.stdout + p.stderr
    saved = os.path.join(base, "saved.db")
    subprocess.run(["sqlite3", store.path, f"ATTACH '{saved}' AS s; CREATE TABLE s.chains AS "
                    "SELECT id, chain_pem FROM certificates"], check=True)
    tls13 = ssl.TLSVersion.TLSv1_3
    for size in ("1m", "0"):
        conf = {"nginx": {"extra_http": f"certinext_cache_size 1; certinext_shared_cache {size};"},
                "httpd": {"extra_conf": f"CertInextCacheSize 1\nCertInextSharedCache {size}"}}
        d = os.path.join(base, "shared-" + size)
        os.mkdir(d)
        srv = SERVERS[kind](d, store, workers=1, agent=False, **conf[kind]).start()
        try:
            own = _serial_of_pem(srv.fallback)
            for _ in range(2):
                assert _served(srv.https_port, "a.shared.example.com", tls13) == a_serial
                assert _served(srv.https_port, "b.shared.example.com", tls13) == b_serial
            # where handshakes read them, without telling the servers (no generation)
            subprocess.run(["sqlite3", store.path,
                            "UPDATE certificates SET chain_pem = 'not a certificate'"],
                           check=True)
            # without it, a (evicted by b) is read from the store and fails; b, in the
            # cache of one that a's failed load left alone, is still served
            want = (a_serial, b_serial) if size != "0" else (own, b_serial)
            for _ in range(3):
                assert _served(srv.https_port, "a.shared.example.com", tls13) == want[0], size
                assert _served(srv.https_port, "b.shared.example.com", tls13) == want[1], size
        finally:
            srv.stop()
            subprocess.run(["sqlite3", store.path, f"ATTACH '{saved}' AS s; UPDATE certificates"
                            " SET chain_pem = (SELECT chain_pem FROM s.chains WHERE"
                            " s.chains.id = certificates.id)"], check=True)
