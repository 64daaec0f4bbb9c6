"""The Debian packages (make deb): installed with dpkg -i on this machine,
accepted by nginx -t and apache2ctl -t, serving a certificate through each
server, then purged - nothing left but the store - and the machine restored."""
import glob
import os
import shutil
import subprocess
import time

from cin import BUILD, ROOT, handshake, order, wait_for, wait_status
from servers import Apache, Nginx

PACKAGES = ["certinext", "libnginx-mod-http-certinext", "libapache2-mod-certinext"]
STATE = "/var/lib/certinext"
NGX_ENABLED = "/etc/nginx/modules-enabled/50-mod-http-certinext.conf"
APACHE_ENABLED = "/etc/apache2/mods-enabled"


def _debs():
    debs = [glob.glob(os.path.join(BUILD, "deb", f"{p}_*.deb")) for p in PACKAGES]
    if not all(debs):
        p = subprocess.run(["make", "-s", "deb"], cwd=ROOT, capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        debs = [glob.glob(os.path.join(BUILD, "deb", f"{p}_*.deb")) for p in PACKAGES]
    return [d[0] for d in debs]


def _dpkg(*args):
    """dpkg, waiting while another process (apt, another test) holds its lock."""
    deadline = time.monotonic() + 300
    while True:
        p = subprocess.run(["dpkg", *args], capture_output=True, text=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if p.returncode == 0 or "lock" not in p.stderr or time.monotonic() > deadline:
            return p
        time.sleep(1)


def _installed(pkg):
    p = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Status}", pkg],
                       capture_output=True, text=True)
    return p.stdout.strip()


def _files_of(deb):
    out = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                         check=True).stdout
    files = []
    for line in out.splitlines():
        path = line.split()[5][1:]
        if not path.endswith("/"):
            files.append(path)
    return files


class _Pkg:
    """The servers of the test suite, loading the packaged modules through the
    snippets the packages enabled instead of the build tree's modules."""

    @staticmethod
    def rewrite(conf, old_prefix, new_line):
        with open(conf) as f:
            lines = f.read().splitlines(keepends=True)
        lines = [new_line + "\n" if ln.startswith(old_prefix) else ln for ln in lines]
        with open(conf, "w") as f:
            f.writelines(lines)


class PkgNginx(Nginx):
    def __init__(self, base, store, **kw):
        super().__init__(base, store, **kw)
        # the snippet says load_module modules/...: relative to nginx's prefix
        os.symlink("/usr/lib/nginx/modules", os.path.join(base, "modules"))
        _Pkg.rewrite(self.conf, "load_module ", f"include {NGX_ENABLED};")


class PkgApache(Apache):
    def __init__(self, base, store, **kw):
        super().__init__(base, store, **kw)
        _Pkg.rewrite(self.conf, "LoadModule certinext_module ",
                     f"Include {APACHE_ENABLED}/certinext.load")


def _snapshot():
    st = os.stat(STATE) if os.path.exists(STATE) else None
    return {
        "state": (st.st_uid, st.st_gid, st.st_mode & 0o7777) if st else None,
        "state_files": sorted(os.listdir(STATE)) if st else [],
        "apache": sorted(os.listdir(APACHE_ENABLED)),
        "nginx": sorted(os.listdir("/etc/nginx/modules-enabled")),
    }


def _restore(before):
    """Put back what installing changed outside the packages' own files."""
    if before["state"] is None:
        shutil.rmtree(STATE, ignore_errors=True)
    elif os.path.exists(STATE):
        for f in os.listdir(STATE):
            if f not in before["state_files"]:
                p = os.path.join(STATE, f)
                shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
        uid, gid, mode = before["state"]
        os.chown(STATE, uid, gid)
        os.chmod(STATE, mode)
    # a2enmod certinext enabled its dependencies (ssl...): disable what was off
    for f in sorted(os.listdir(APACHE_ENABLED)):
        if f not in before["apache"] and f.endswith(".load"):
            subprocess.run(["a2dismod", "-q", "-f", f[:-5]], capture_output=True)
    for f in os.listdir("/etc/nginx/modules-enabled"):
        if f not in before["nginx"]:
            os.unlink(os.path.join("/etc/nginx/modules-enabled", f))


def test_install_serve_purge(base, store):
    for pkg in PACKAGES:
        assert _installed(pkg) in ("", "not-installed", "config-files"), \
            f"{pkg} is installed already: this test installs and purges it"
    debs = _debs()
    before = _snapshot()
    store_was_there = os.path.exists(os.path.join(STATE, "store.db"))
    ngx = apa = None
    try:
        p = _dpkg("-i", *debs)
        assert p.returncode == 0, p.stdout + p.stderr
        for pkg in PACKAGES:
            assert _installed(pkg) == "installed", pkg
        # certinext: the command, the state directory for the workers, and a store
        # made by postinst (its key root's alone) unless one was there
        assert os.access("/usr/bin/certinext", os.X_OK)
        assert os.path.exists("/usr/share/man/man8/certinext.8.gz")  # certinext(8)
        st = os.stat(STATE)
        assert (st.st_mode & 0o777) == 0o700 and st.st_uid != 0
        if not store_was_there:
            key = os.stat(os.path.join(STATE, "store.db.key"))
            assert key.st_uid == 0 and (key.st_mode & 0o777) == 0o600
            p = subprocess.run(["/usr/bin/certinext", "--store", os.path.join(STATE, "store.db"),
                                "store", "check"], capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
        # the modules are enabled as Debian's own modules are
        assert os.path.islink(NGX_ENABLED)
        assert os.path.islink(os.path.join(APACHE_ENABLED, "certinext.load"))
        assert os.path.islink(os.path.join(APACHE_ENABLED, "ssl.load"))  # its dependency
        # the stock configurations accept them
        p = subprocess.run(["nginx", "-t"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        p = subprocess.run(["apache2ctl", "-t"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        # and a certificate is served through each
        os.mkdir(os.path.join(base, "n"))
        os.mkdir(os.path.join(base, "a"))
        ngx = PkgNginx(os.path.join(base, "n"), store).start()
        apa = PkgApache(os.path.join(base, "a"), store).start()
        assert "/usr/lib/nginx/modules" in os.readlink(os.path.join(base, "n", "modules"))
        ann = ngx.api(store.tokens["ann"])
        o = order(ann, "dv-ssl", ["deb.example.com"])
        assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
        serial = wait_status(ann, o["id"], "issued")["certificate"]["serial"]
        for srv in (ngx, apa):
            assert wait_for(lambda: handshake(srv.https_port, "deb.example.com")[0] == serial, 5)
        assert apa.api(store.tokens["ann"]).get(f"/api/v1/orders/{o['id']}").status == 200
    finally:
        if ngx:
            ngx.stop()
        if apa:
            apa.stop()
        p = _dpkg("--purge", *PACKAGES)
        purged = p.returncode == 0
        leftovers = [f for deb in debs for f in _files_of(deb) if os.path.lexists(f)]
        enabled = [f for f in (NGX_ENABLED, os.path.join(APACHE_ENABLED, "certinext.load"),
                               "/etc/apache2/mods-available/certinext.load")
                   if os.path.lexists(f)]
        kept = os.path.exists(os.path.join(STATE, "store.db"))
        _restore(before)
    assert purged, p.stdout + p.stderr
    for pkg in PACKAGES:
        assert _installed(pkg) in ("", "not-installed"), pkg
    # nothing left but the store
    assert leftovers == [] and enabled == [], (leftovers, enabled)
    assert kept
    assert _snapshot() == before
