"""Real nginx (and httpd) with the certinext modules, on 127.0.0.1 high ports."""
import os
import re
import signal
import subprocess

from cin import BUILD, free_port, fallback_cert, Api, wait_for

NGINX_MODULE = os.path.join(BUILD, "ngx_http_certinext_module.so")


def _port_open(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class _Server:
    """What nginx and httpd share here: pids, logs, probes, the API client."""

    def master_pid(self):
        with open(self.pidfile) as f:
            return int(f.read())

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.master_pid())], capture_output=True,
                             text=True).stdout
        return sorted(int(p) for p in out.split())

    def stop(self):
        try:
            pid = self.master_pid()
        except (OSError, ValueError):
            pid = None
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
                wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 15)
            except ProcessLookupError:
                pass
        # whatever is left of this server (a master that missed the signal during a
        # restart, orphaned children) must not outlive the test
        def gone():
            subprocess.run(["pkill", "-KILL", "-f", self.conf], capture_output=True)
            return subprocess.run(["pgrep", "-f", self.conf], capture_output=True).returncode
        wait_for(gone, 5, 0.2)

    def _read(self, path):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    def log(self):
        return self._read(self.error_log)

    def access(self):
        return self._read(self.access_log)

    def pid_of_probe(self, probe):
        def find():
            m = re.search(rf"probe={probe} pid=(\d+)", self.access())
            return int(m.group(1)) if m else None
        return wait_for(find, 5)

    def api(self, token=None, tls=False):
        return Api(self.https_port if tls else self.http_port, "/certinext", token, tls)


class Nginx(_Server):
    name = "nginx"

    def __init__(self, base, store, workers=2, agent=True, extra_http="", ssl_on=True):
        self.base, self.store = base, store
        self.http_port, self.https_port, self.http2_port = free_port(), free_port(), free_port()
        self.conf = os.path.join(base, "nginx.conf")
        self.error_log = os.path.join(base, "nginx-error.log")
        self.access_log = os.path.join(base, "nginx-access.log")
        self.pidfile = os.path.join(base, "nginx.pid")
        self.webroot = os.path.join(base, "webroot")
        os.makedirs(os.path.join(self.webroot, ".well-known", "acme-challenge"), exist_ok=True)
        crt, key = fallback_cert(base)
        self.fallback = crt
        with open(self.conf, "w") as f:
            f.write(f"""
load_module {NGINX_MODULE};
worker_processes {workers};
user www-data;
error_log {self.error_log} info;
pid {self.pidfile};
events {{ worker_connections 1024; }}
http {{
    log_format probe 'probe=$http_x_probe pid=$pid status=$status';
    access_log {self.access_log} probe;
    client_body_temp_path {base}/body;
    certinext_store {store.path};
    certinext_agent {'on' if agent else 'off'};
    {extra_http}
    server {{
        listen 127.0.0.1:{self.http_port};
        listen 127.0.0.1:{self.https_port} ssl;
        server_name _;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        ssl_session_cache off;
        ssl_session_tickets off;
        certinext_ssl {'on' if ssl_on else 'off'};
        location /certinext/ {{ certinext; }}
        location = /probe {{ return 200 "probe\\n"; }}
        location / {{ root {self.webroot}; }}
    }}
    server {{
        listen 127.0.0.1:{self.http2_port};
        server_name second.example.com;
        location / {{ root {self.webroot}; }}
    }}
}}
""")

    def start(self):
        subprocess.run(["nginx", "-t", "-q", "-c", self.conf, "-p", self.base], check=True,
                       capture_output=True)
        subprocess.run(["nginx", "-c", self.conf, "-p", self.base], check=True)
        assert wait_for(lambda: _port_open(self.http_port) and _port_open(self.https_port), 10)
        return self


    def agent_pid(self):
        pids = re.findall(r"(\d+)#\d+: certinext: agent started", self.log())
        return int(pids[-1]) if pids else None

    def reload(self):
        old = set(self.worker_pids())
        subprocess.run(["nginx", "-s", "reload", "-c", self.conf, "-p", self.base], check=True,
                       capture_output=True)
        assert wait_for(lambda: set(self.worker_pids()).isdisjoint(old)
                        and len(self.worker_pids()) > 0, 15)


SERVERS = {"nginx": Nginx}


APACHE_MODULE = os.path.join(BUILD, "mod_certinext.so")
APACHE_MODULES = "/usr/lib/apache2/modules"


class Apache(_Server):
    name = "httpd"

    def __init__(self, base, store, workers=2, agent=True, mpm="event", ssl_on=True):
        self.base, self.store = base, store
        self.http_port, self.https_port, self.http2_port = free_port(), free_port(), free_port()
        self.conf = os.path.join(base, "httpd.conf")
        self.error_log = os.path.join(base, "httpd-error.log")
        self.access_log = os.path.join(base, "httpd-access.log")
        self.pidfile = os.path.join(base, "httpd.pid")
        self.webroot = os.path.join(base, "webroot")
        os.makedirs(os.path.join(self.webroot, ".well-known", "acme-challenge"), exist_ok=True)
        with open(os.path.join(self.webroot, "probe"), "w") as f:
            f.write("probe\n")
        crt, key = fallback_cert(base)
        self.fallback = crt
        if mpm == "event":
            mpm_conf = f"""LoadModule mpm_event_module {APACHE_MODULES}/mod_mpm_event.so
StartServers {workers}
ServerLimit {workers}
ThreadsPerChild 16
MinSpareThreads {16 * workers}
MaxSpareThreads {16 * workers}
MaxRequestWorkers {16 * workers}
MaxConnectionsPerChild 0"""
        else:
            mpm_conf = f"""LoadModule mpm_prefork_module {APACHE_MODULES}/mod_mpm_prefork.so
StartServers {workers}
MinSpareServers {workers}
MaxSpareServers {workers}
ServerLimit {workers}
MaxRequestWorkers {workers}"""
        location = "<Location \"/certinext\">\n        SetHandler certinext\n    </Location>"
        with open(self.conf, "w") as f:
            f.write(f"""ServerRoot {base}
DefaultRuntimeDir {base}
PidFile {self.pidfile}
Mutex file:{base} default
{mpm_conf}
LoadModule authz_core_module {APACHE_MODULES}/mod_authz_core.so
LoadModule mime_module {APACHE_MODULES}/mod_mime.so
TypesConfig /etc/mime.types
LoadModule socache_shmcb_module {APACHE_MODULES}/mod_socache_shmcb.so
LoadModule ssl_module {APACHE_MODULES}/mod_ssl.so
LoadModule certinext_module {APACHE_MODULE}
User www-data
Group www-data
ServerName localhost
ErrorLog {self.error_log}
LogLevel info
LogFormat "probe=%{{X-Probe}}i pid=%P status=%>s" probe
CustomLog {self.access_log} probe
Listen 127.0.0.1:{self.http_port}
Listen 127.0.0.1:{self.https_port}
Listen 127.0.0.1:{self.http2_port}
DocumentRoot {self.webroot}
<Directory {self.webroot}>
    Require all granted
</Directory>
SSLSessionCache none
CertInextStore {store.path}
CertInextAgent {'On' if agent else 'Off'}
<VirtualHost 127.0.0.1:{self.http_port}>
    ServerName localhost
    {location}
</VirtualHost>
<VirtualHost 127.0.0.1:{self.https_port}>
    ServerName localhost
    SSLEngine on
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    SSLSessionTickets off
    SSLCertificateFile {crt}
    SSLCertificateKeyFile {key}
    CertInextSSL {'On' if ssl_on else 'Off'}
    {location}
</VirtualHost>
<VirtualHost 127.0.0.1:{self.http2_port}>
    ServerName second.example.com
</VirtualHost>
""")

    def _ctl(self, *args):
        return subprocess.run(["apache2", "-d", self.base, "-f", self.conf, *args],
                              capture_output=True, text=True)

    def start(self):
        p = self._ctl("-t")
        assert p.returncode == 0, p.stderr
        p = self._ctl("-k", "start")
        assert p.returncode == 0, p.stderr
        assert wait_for(lambda: _port_open(self.http_port) and _port_open(self.https_port), 15)
        return self


    def agent_pid(self):
        # a child of the running master, never the master itself
        pids = re.findall(r"certinext: agent started in child (\d+)", self.log())
        children = set(self.worker_pids())
        live = [int(p) for p in pids if int(p) in children]
        return live[-1] if live else None

    def reload(self):
        gen = self.log().count("resuming normal operations")
        p = self._ctl("-k", "graceful")
        assert p.returncode == 0, p.stderr
        assert wait_for(lambda: self.log().count("resuming normal operations") > gen, 15)


SERVERS["httpd"] = Apache
