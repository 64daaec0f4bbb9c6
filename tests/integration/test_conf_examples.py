"""conf-examples/ stay true: each nginx example passes `nginx -t` with the module."""
import glob
import os
import re
import subprocess

import pytest

from cin import ROOT, fallback_cert, free_port
from servers import NGINX_MODULE

EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "conf-examples", "nginx", "*.conf")))


@pytest.mark.parametrize("example", [os.path.basename(e) for e in EXAMPLES])
def test_nginx_example_is_valid(example, base, store):
    crt, key = fallback_cert(base)
    text = open(os.path.join(ROOT, "conf-examples", "nginx", example)).read()
    text = re.sub(r"/etc/ssl/certs/\S+\.pem", crt, text)
    text = re.sub(r"/etc/ssl/private/\S+\.key", key, text)
    text = text.replace("/var/lib/certinext/store.db", store.path)
    text = re.sub(r"listen (\[::\]:)?(80|443|8443)\b", lambda m: f"listen 127.0.0.1:{free_port()}",
                  text)
    text = text.replace("include fastcgi_params;", "include /etc/nginx/fastcgi_params;")
    http_level = f"certinext_store {store.path};"
    if example == "http-block.conf":
        http_level, text = text.replace("/var/lib/certinext/store.db", store.path), ""
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
