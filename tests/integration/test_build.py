"""The build reads like its neighbours' (issue 17): bounded numbers in the
servers' configuration, header dependencies, the nginx module's config."""
import os
import re
import shutil
import subprocess

import pytest

from cin import ROOT, fallback_cert, free_port
from servers import APACHE_MODULE, APACHE_MODULES, NGINX_MODULE


def _nginx_t(base, store, line):
    crt, key = fallback_cert(base)
    conf = os.path.join(base, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""load_module {NGINX_MODULE};
error_log {base}/err.log;
pid {base}/nginx.pid;
events {{}}
http {{
    client_body_temp_path {base}/body;
    certinext_store {store.path};
    {line}
    server {{
        listen 127.0.0.1:{free_port()} ssl;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        certinext_ssl on;
    }}
}}
""")
    return subprocess.run(["nginx", "-t", "-c", conf, "-p", base], capture_output=True, text=True)


@pytest.mark.parametrize("value,error", [
    ("500", None),
    ("10000000", None),
    ("10k", '"certinext_cache_size" directive invalid number'),  # a number, not a size
    ("0", '"certinext_cache_size" directive must be a number of certificates from 1 to 10000000'),
    ("10000001",
     '"certinext_cache_size" directive must be a number of certificates from 1 to 10000000'),
    ("-5", '"certinext_cache_size" directive invalid number'),
])
def test_nginx_cache_size_is_a_bounded_number(value, error, base, store):
    _nginx_t_says(_nginx_t(base, store, f"certinext_cache_size {value};"), error)


def _nginx_t_says(p, error):
    """nginx -t (or apache2 -t) passed (error None), or failed saying error."""
    if error is None:
        assert p.returncode == 0, p.stderr
    else:
        assert p.returncode != 0
        assert error in p.stderr, p.stderr


@pytest.mark.parametrize("value,error", [
    ("256m", None),
    ("0", None),  # off
    ("64k", None),
    ("65536m", None),
    ("63k", '"certinext_shared_cache" directive must be 0 (off) or a size from 64k to 65536m'),
    ("65537m", '"certinext_shared_cache" directive must be 0 (off) or a size from 64k to 65536m'),
    ("lots", '"certinext_shared_cache" directive invalid value'),
    ("64g", '"certinext_shared_cache" directive invalid value'),  # nginx has no g suffix
])
def test_nginx_shared_cache_is_a_bounded_size(value, error, base, store):
    _nginx_t_says(_nginx_t(base, store, f"certinext_shared_cache {value};"), error)


@pytest.mark.parametrize("value,ok", [("256M", True), ("0", True), ("65536", True),
                                      ("64G", True), ("63K", False), ("65G", False),
                                      ("lots", False), ("-1", False), ("12X", False)])
def test_apache_shared_cache_is_a_bounded_size(value, ok, base, store):
    _nginx_t_says(_apache_t(base, store, f"CertInextSharedCache {value}"),
                  None if ok else "CertInextSharedCache must be 0 (off) or a size from 64K to 64G")


def _apache_t(base, store, line):
    crt, key = fallback_cert(base)
    conf = os.path.join(base, "httpd.conf")
    with open(conf, "w") as f:
        f.write(f"""ServerRoot {base}
DefaultRuntimeDir {base}
PidFile {base}/httpd.pid
Mutex file:{base} default
LoadModule mpm_event_module {APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module {APACHE_MODULES}/mod_authz_core.so
LoadModule ssl_module {APACHE_MODULES}/mod_ssl.so
LoadModule certinext_module {APACHE_MODULE}
ServerName localhost
ErrorLog {base}/error.log
Listen 127.0.0.1:{free_port()}
CertInextStore {store.path}
{line}
""")
    return subprocess.run(["apache2", "-d", base, "-f", conf, "-t"], capture_output=True, text=True)


@pytest.mark.parametrize("value,ok", [("500", True), ("10k", False), ("0", False),
                                      ("10000001", False)])
def test_apache_cache_size_is_a_bounded_number(value, ok, base, store):
    _nginx_t_says(_apache_t(base, store, f"CertInextCacheSize {value}"),
                  None if ok else "CertInextCacheSize must be a number of certificates from 1 to "
                  "10000000")


def _make_n(*what_if):
    """What `make all unit` would run if the files in what_if had changed
    (make -W: nothing in the tree is touched)."""
    args = ["make", "-n", "--no-print-directory"]
    for f in what_if:  # as the top Makefile names it, and as nginx's .d files do
        args += ["-W", f, "-W", os.path.join(ROOT, f)]
    p = subprocess.run(args + ["all", "unit"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


def _compiled(out):
    return sorted(set(re.findall(r"-c -o \S+ (\S+\.c)\b", out)))


def test_header_change_rebuilds_its_dependants():
    # an up-to-date tree compiles nothing
    assert _compiled(_make_n()) == []
    # cin_totp.h: the files that include it (directly or not) are rebuilt, no others
    users = subprocess.run(["grep", "-rl", "--include=*.c", "--include=*.h", "cin_totp.h",
                            "common", "tests/unit", "mod_certinext", "ngx_certinext"],
                           cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert users, "nothing includes cin_totp.h any more: pick another header for this test"
    out = _make_n(_header("cin_totp.h"))
    compiled = _compiled(out)
    assert compiled, out
    direct = [u for u in users if u.endswith(".c")]
    for u in direct:
        assert u in compiled, (u, compiled)
    assert len(compiled) < 40, compiled  # not the whole tree
    # a public header the glue includes: both modules are rebuilt too
    out = _make_n(_header("cin_tls.h"))
    assert "mod_certinext.c" in out
    assert "common/src/tls.c" in _compiled(out)
    assert re.search(r"-C build/nginx -f objs/Makefile .*modules", out), out
    # ... and nginx's objs/Makefile (its -W is not passed down): config.make's
    # -MMD -MP dependencies rebuild the module's object
    p = subprocess.run(["make", "-n", "-C", "build/nginx", "-f", "objs/Makefile", "-W",
                        os.path.join(ROOT, _header("cin_tls.h")), "modules"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert "-o objs/addon/ngx_certinext/ngx_http_certinext_module.o" in p.stdout, p.stdout
    # and relinks it when the core library changed (a dependency, not a flag)
    p = subprocess.run(["make", "-n", "-C", "build/nginx", "-f", "objs/Makefile", "-W",
                        os.path.join(ROOT, "build", "libcertinext.a"), "modules"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert "-o objs/ngx_http_certinext_module.so" in p.stdout, p.stdout
    assert "-o objs/addon/ngx_certinext/ngx_http_certinext_module.o" not in p.stdout


def _header(name):
    for d in ("common/include", "common/src"):
        if os.path.exists(os.path.join(ROOT, d, name)):
            return os.path.join(d, name)
    raise AssertionError(f"no header {name}")


@pytest.mark.parametrize("drop,needs", [("--with-threads", "--with-threads"),
                                        ("--with-http_ssl_module", "--with-http_ssl_module")])
def test_nginx_config_refuses_an_nginx_without(drop, needs, base):
    src = os.path.join(base, "nginx")
    shutil.copytree("/usr/share/nginx/src", src)
    p = subprocess.run(["bash", "-c", '. ./conf_flags && flags=() && '
                        'for f in "${NGX_CONF_FLAGS[@]}"; do [ "$f" = "$DROP" ] || flags+=("$f"); '
                        'done && ./configure "${flags[@]}" --add-dynamic-module="$MOD"'],
                       cwd=src, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, DROP=drop, MOD=os.path.join(ROOT, "ngx_certinext"),
                                CIN_BUILD=os.path.join(ROOT, "build")))
    assert p.returncode != 0
    assert f"ngx_http_certinext_module needs {needs}" in p.stdout + p.stderr, p.stdout[-2000:]


def test_common_include_is_exactly_the_glues_api():
    """common/include/ holds what the two modules include (directly or through
    another public header) and nothing else; the core's own headers are in
    common/src/, which the modules' builds do not see."""
    inc = os.path.join(ROOT, "common", "include")

    def includes(path):
        return re.findall(r'#include "(cin_[a-z_]+\.h)"', open(path).read())

    seen, todo = set(), []
    for glue in ("mod_certinext/mod_certinext.c", "ngx_certinext/ngx_http_certinext_module.c"):
        todo += includes(os.path.join(ROOT, glue))
    while todo:
        h = todo.pop()
        if h in seen:
            continue
        assert os.path.exists(os.path.join(inc, h)), f"the glue includes {h}: not public"
        seen.add(h)
        todo += includes(os.path.join(inc, h))
    assert seen == set(os.listdir(inc)), set(os.listdir(inc)) ^ seen
