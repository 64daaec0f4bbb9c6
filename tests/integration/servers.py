"""Real nginx (and httpd) with the certinext modules, on 127.0.0.1 high ports."""
import os
import pwd
import re
import signal
import subprocess

from cin import BUILD, WORKER_USER, free_port, fallback_cert, Api, wait_for

NGINX_MODULE = os.path.join(BUILD, "ngx_http_certinext_module.so")
# `make asan-modules`: both modules and the core built with ASan+UBSan
ASAN_BUILD = os.path.join(BUILD, "asan")


def _gcc_runtime(name):
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert os.path.isabs(path) and os.path.exists(path), f"gcc has no {name}"
    return os.path.realpath(path)


class Sanitizers:
    """The ASan+UBSan runtime for a stock (uninstrumented) server that loads the
    modules of `make asan-modules`: the runtime is preloaded (ASan must come first),
    leaks are not looked for (the servers' own allocations are not ours), and the
    first report ends the process (abort, so the master logs the signal).

    Workers and children are forked from the master, so they inherit the mapped
    runtime and the options it read at startup (nginx's `env` clearing does not
    matter); their reports go to files in one directory that they, running as the
    worker user, can write. UBSan's log_path is given but GCC's libubsan prints to
    stderr all the same when libasan is loaded (libasan takes its report-path call),
    and a server's stderr is its error log: reports() looks there too."""

    # what a report or a sanitizer's abort leaves in an error log
    LOG_SIGNS = re.compile(r"runtime error:|Sanitizer|exited on signal (4|6|7|8|11)\b|"
                           r"exit signal (Illegal|Aborted|Bus|Floating|Segmentation)")

    def __init__(self, base):
        self.dir = os.path.join(base, "sanitizers")
        os.makedirs(self.dir, exist_ok=True)
        w = pwd.getpwnam(WORKER_USER)
        os.chown(self.dir, w.pw_uid, w.pw_gid)
        self.env = dict(
            os.environ,
            LD_PRELOAD=" ".join([_gcc_runtime("libasan.so"), _gcc_runtime("libubsan.so")]),
            ASAN_OPTIONS=f"detect_leaks=0:abort_on_error=1:halt_on_error=1:"
                         f"allow_user_segv_handler=0:symbolize=0:log_path={self.dir}/asan",
            UBSAN_OPTIONS=f"print_stacktrace=1:halt_on_error=1:abort_on_error=1:"
                          f"log_path={self.dir}/ubsan")

    # a frame of a report: "#3 0x7f... (/path/to/object.so+0x1234)"
    FRAME = re.compile(r"#(\d+) 0x[0-9a-f]+ +\((/[^()+]+)\+(0x[0-9a-f]+)\)")

    @classmethod
    def symbolize(cls, text):
        """Name our own frames (function at file:line): the runtime prints bare
        addresses (symbolize=0) so that a report from a thread of an exiting process
        is written whole before the process is gone."""
        def ours(m):
            return m.group(2).startswith(BUILD + os.sep)
        frames = [m for m in cls.FRAME.finditer(text) if ours(m)]
        names = {}
        for obj in {m.group(2) for m in frames}:
            # a return address (every frame but the first) points after its call
            offs = [m.group(3) if m.group(1) == "0" else hex(int(m.group(3), 16) - 1)
                    for m in frames if m.group(2) == obj]
            out = subprocess.run(["addr2line", "-f", "-i", "-p", "-e", obj, *offs],
                                 capture_output=True, text=True).stdout
            # one entry per address; inlined frames continue on "(inlined by)" lines
            entries = re.split(r"\n(?! \(inlined by\))", out.strip())
            if len(entries) == len(offs):
                names.update(zip(((obj, o) for o in offs), entries))

        def name(m):
            off = m.group(3) if m.group(1) == "0" else hex(int(m.group(3), 16) - 1)
            where = names.get((m.group(2), off))
            return f"{m.group(0)} {where}" if where else m.group(0)
        return cls.FRAME.sub(name, text)

    def reports(self, logs):
        """Every report file (even an empty one) and every sign of one in the logs."""
        found = []
        for name in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, name), errors="replace") as f:
                found.append(f"--- {name}\n{self.symbolize(f.read())}")
        for log in logs:
            try:
                with open(log, errors="replace") as f:
                    lines = [ln for ln in f if self.LOG_SIGNS.search(ln)]
            except OSError:
                continue
            if lines:
                found.append(f"--- {log}\n{''.join(lines)}")
        return found


def _port_open(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class _Server:
    """What nginx and httpd share here: pids, logs, probes, the API client.
    With sanitized=True the server loads the ASan+UBSan modules (build/asan) with
    the runtime preloaded into every command that loads them."""

    def _setup(self, base, store, sanitized, state_dir=None):
        # this "host"'s own state: a fleet test gives each server its own
        self.state_dir = state_dir or os.path.join(base, "state")
        self.base, self.store = base, store
        self.san = Sanitizers(base) if sanitized else None
        self.env = self.san.env if sanitized else None
        self.http_port, self.https_port, self.http2_port = free_port(), free_port(), free_port()

    def module(self):
        """The module this server loads: build/NAME, or build/asan/NAME when sanitized."""
        return os.path.join(ASAN_BUILD if self.san else BUILD, os.path.basename(self.module_file))

    def sanitizer_reports(self):
        return self.san.reports([self.error_log]) if self.san else []

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
                os.kill(pid, self.stop_signal())
                wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 15)
            except ProcessLookupError:
                pass
        # whatever is left of this server (a master that missed the signal during a
        # restart, orphaned children) must not outlive the test
        def gone():
            subprocess.run(["pkill", "-KILL", "-f", self.conf], capture_output=True)
            return subprocess.run(["pgrep", "-f", self.conf], capture_output=True).returncode
        wait_for(gone, 5, 0.2)

    def stop_signal(self):
        return signal.SIGTERM

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
    module_file = NGINX_MODULE
    # what nginx's master logs when a worker dies of a crash (not of a test's kill)
    CRASHED = re.compile(r".*exited on signal (?:4|6|7|8|11)\b.*")

    def crashes(self):
        return self.CRASHED.findall(self.log())

    def stop(self):
        """Stops nginx; every stop of every test also checks that no worker crashed
        on its way out (nobody else would see it: the test is over)."""
        super().stop()
        crashed = self.crashes()
        assert not crashed, "nginx workers crashed:\n" + "\n".join(crashed)

    def __init__(self, base, store, workers=2, agent=True, extra_http="", ssl_on=True,
                 sanitized=False, state_dir=None, client_ca=None, http2=False):
        self._setup(base, store, sanitized, state_dir)
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
load_module {self.module()};
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
    {f"certinext_key_file {store.key_file};" if store.key_file else ""}
    certinext_state_dir {self.state_dir};
    certinext_agent {'on' if agent else 'off'};
    {extra_http}
    server {{
        listen 127.0.0.1:{self.http_port};
        listen 127.0.0.1:{self.https_port} ssl{" http2" if http2 else ""};
        server_name _;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        ssl_session_cache off;
        ssl_session_tickets off;
        {f"ssl_client_certificate {client_ca}; ssl_verify_client optional_no_ca;"
         if client_ca else ""}
        certinext_ssl {'on' if ssl_on else 'off'};
        error_page 400 /certinext/_error/400;
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
                       capture_output=True, env=self.env)
        subprocess.run(["nginx", "-c", self.conf, "-p", self.base], check=True, env=self.env)
        assert wait_for(lambda: _port_open(self.http_port) and _port_open(self.https_port), 10)
        return self


    def agent_pid(self):
        pids = re.findall(r"(\d+)#\d+: certinext: agent started", self.log())
        return int(pids[-1]) if pids else None

    def reload(self):
        old = set(self.worker_pids())
        subprocess.run(["nginx", "-s", "reload", "-c", self.conf, "-p", self.base], check=True,
                       capture_output=True, env=self.env)
        assert wait_for(lambda: set(self.worker_pids()).isdisjoint(old)
                        and len(self.worker_pids()) > 0, 15)


SERVERS = {"nginx": Nginx}


APACHE_MODULE = os.path.join(BUILD, "mod_certinext.so")
APACHE_MODULES = "/usr/lib/apache2/modules"


class Apache(_Server):
    name = "httpd"
    module_file = APACHE_MODULE

    def __init__(self, base, store, workers=2, agent=True, mpm="event", ssl_on=True,
                 sanitized=False, state_dir=None, extra_conf="", client_ca=None, http2=False):
        self._setup(base, store, sanitized, state_dir)
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
GracefulShutdownTimeout 10
LoadModule authz_core_module {APACHE_MODULES}/mod_authz_core.so
LoadModule mime_module {APACHE_MODULES}/mod_mime.so
TypesConfig /etc/mime.types
LoadModule socache_shmcb_module {APACHE_MODULES}/mod_socache_shmcb.so
LoadModule ssl_module {APACHE_MODULES}/mod_ssl.so
LoadModule certinext_module {self.module()}
{f"LoadModule http2_module {APACHE_MODULES}/mod_http2.so" if http2 else ""}
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
{f"CertInextKeyFile {store.key_file}" if store.key_file else ""}
CertInextStateDir {self.state_dir}
ErrorDocument 400 /certinext/_error/400
ErrorDocument 404 /certinext/_error/404
CertInextAgent {'On' if agent else 'Off'}
{extra_conf}
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
    {f"SSLCACertificateFile {client_ca}" if client_ca else ""}
    {"SSLVerifyClient optional_no_ca" if client_ca else ""}
    CertInextSSL {'On' if ssl_on else 'Off'}
    {"Protocols h2 http/1.1" if http2 else ""}
    {location}
</VirtualHost>
<VirtualHost 127.0.0.1:{self.http2_port}>
    ServerName second.example.com
</VirtualHost>
""")

    def stop_signal(self):
        # Under the sanitizers, a graceful stop (SIGWINCH): on an immediate stop the
        # event MPM's main thread closes every worker's socket (close_worker_sockets)
        # while a worker may just have returned that connection's pool, a read of
        # freed memory inside httpd itself that ASan reports as a SEGV in
        # apr_os_sock_get. A graceful stop lets the connections end first, and the
        # module's exit paths run all the same (bounded by GracefulShutdownTimeout).
        return signal.SIGWINCH if self.san else signal.SIGTERM

    def _ctl(self, *args):
        # apache2 itself, not apache2ctl: the server inherits this environment
        return subprocess.run(["apache2", "-d", self.base, "-f", self.conf, *args],
                              capture_output=True, text=True, env=self.env)

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
