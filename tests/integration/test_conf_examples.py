"""conf-examples/ stay true: each nginx example passes `nginx -t` with the module."""
import glob
import os
import re
import subprocess

import pytest

from cin import ROOT, Store, fallback_cert, free_port
from servers import NGINX_MODULE

EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "conf-examples", "nginx", "*.conf")))


@pytest.mark.parametrize("example", [os.path.basename(e) for e in EXAMPLES])
def test_nginx_example_is_valid(example, base, store, request):
    crt, key = fallback_cert(base)
    text = open(os.path.join(ROOT, "conf-examples", "nginx", example)).read()
    text = re.sub(r"/etc/ssl/certs/\S+\.pem", crt, text)
    text = re.sub(r"/etc/ssl/private/\S+\.key", key, text)
    text = text.replace("/var/lib/certinext/store.db", store.path)
    text = re.sub(r"listen (\[::\]:)?(80|443|8443|9443)\b", lambda m: f"listen 127.0.0.1:{free_port()}",
                  text)
    text = text.replace("include fastcgi_params;", "include /etc/nginx/fastcgi_params;")
    http_level = f"certinext_store {store.path};"
    if example == "http-block.conf":
        http_level, text = text.replace("/var/lib/certinext/store.db", store.path), ""
    if example == "fleet.conf":
        # the fleet's store: a real PostgreSQL database, its key, a state directory
        os.mkdir(base + "/pg")
        pgs = Store(base + "/pg", pg=request.getfixturevalue("pg"))
        text = re.sub(r'certinext_store "[^"]*"', f'certinext_store "{pgs.path}"', text)
        text = text.replace("/etc/certinext/store.key", pgs.key_file)
        text = text.replace("/var/lib/certinext", base + "/state")
        http_level = ""
    conf = os.path.join(base, "example.conf")
    with open(conf, "w") as f:
        f.write(f"""load_module {NGINX_MODULE};
error_log {base}/err.log;
pid {base}/nginx.pid;
events {{}}
http {{
    client_body_temp_path {base}/body;
    {http_level}
    {text}
}}
""")
    p = subprocess.run(["nginx", "-t", "-c", conf, "-p", base], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


APACHE_EXAMPLES = ["certinext.conf", "tls-vhost.conf", "mass-hosting.conf", "fleet.conf"]


@pytest.mark.parametrize("example", APACHE_EXAMPLES)
def test_apache_example_is_valid(example, base, store, request):
    from servers import APACHE_MODULE, APACHE_MODULES
    crt, key = fallback_cert(base)
    d = os.path.join(ROOT, "conf-examples", "apache")

    def adapt(text):
        text = text.replace("/etc/ssl/certs/ssl-cert-snakeoil.pem", crt)
        text = text.replace("/etc/ssl/private/ssl-cert-snakeoil.key", key)
        text = text.replace("/var/lib/certinext/store.db", store.path)
        text = text.replace("/etc/apache2/customers", os.path.join(base, "customers"))
        return text

    os.mkdir(os.path.join(base, "customers"))
    for f in os.listdir(os.path.join(d, "customers")):
        with open(os.path.join(base, "customers", f), "w") as out:
            out.write(adapt(open(os.path.join(d, "customers", f)).read()))
    body = adapt(open(os.path.join(d, example)).read())
    store_conf = "" if example in ("certinext.conf", "fleet.conf") else \
        f"CertInextStore {store.path}"
    if example == "fleet.conf":
        os.mkdir(base + "/pg")
        pgs = Store(base + "/pg", pg=request.getfixturevalue("pg"))
        body = re.sub(r'CertInextStore "[^"]*"', f'CertInextStore "{pgs.path}"', body)
        body = body.replace("/etc/certinext/store.key", pgs.key_file)
        body = body.replace("/var/lib/certinext", base + "/state")
    conf = os.path.join(base, "httpd.conf")
    with open(conf, "w") as f:
        f.write(f"""ServerRoot {base}
DefaultRuntimeDir {base}
PidFile {base}/httpd.pid
Mutex file:{base} default
LoadModule mpm_event_module {APACHE_MODULES}/mod_mpm_event.so
LoadModule authz_core_module {APACHE_MODULES}/mod_authz_core.so
LoadModule alias_module {APACHE_MODULES}/mod_alias.so
LoadModule proxy_module {APACHE_MODULES}/mod_proxy.so
LoadModule proxy_fcgi_module {APACHE_MODULES}/mod_proxy_fcgi.so
LoadModule ssl_module {APACHE_MODULES}/mod_ssl.so
LoadModule certinext_module {APACHE_MODULE}
ServerName localhost
ErrorLog {base}/error.log
Listen 127.0.0.1:{free_port()}
{store_conf}
{body}
""")
    p = subprocess.run(["apache2", "-d", base, "-f", conf, "-t"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
