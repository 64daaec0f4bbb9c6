#!/bin/sh
# make demo: a seeded store and real servers with the certinext modules on
# 127.0.0.1, then what to open.  `make demo-stop` (or tests/demo.sh stop) ends it.
# Everything lives in $DEMO_DIR (default build/demo); ports can be overridden.
set -e
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO_DIR=${DEMO_DIR:-$ROOT/build/demo}
NGX_HTTP=${DEMO_NGINX_HTTP:-8080}
NGX_HTTPS=${DEMO_NGINX_HTTPS:-8443}
APA_HTTP=${DEMO_HTTPD_HTTP:-8081}
APA_HTTPS=${DEMO_HTTPD_HTTPS:-8444}
MODS=/usr/lib/apache2/modules
CLI=$ROOT/build/certinext
STORE=$DEMO_DIR/store/store.db
WORKER_USER=www-data

stop() {
    if [ -f "$DEMO_DIR/nginx.pid" ]; then
        nginx -s quit -c "$DEMO_DIR/nginx.conf" -p "$DEMO_DIR" 2>/dev/null || true
        rm -f "$DEMO_DIR/nginx.pid"
    fi
    if [ -f "$DEMO_DIR/httpd.pid" ]; then
        apache2 -d "$DEMO_DIR" -f "$DEMO_DIR/httpd.conf" -k stop 2>/dev/null || true
        rm -f "$DEMO_DIR/httpd.pid"
    fi
}

if [ "$1" = stop ]; then
    stop
    echo "demo stopped"
    exit 0
fi

stop
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR/store"
chmod 755 "$DEMO_DIR"
chmod 700 "$DEMO_DIR/store"
export CERTINEXT_STORE="$STORE"
$CLI init >/dev/null
$CLI account create demo-hosting --credits 1000 >/dev/null
$CLI domain add --account demo-hosting example.com >/dev/null
$CLI domain add --account demo-hosting demo.lan >/dev/null
echo "demo-admin-pass" | $CLI user create --account demo-hosting --name admin --role admin --signatory --password-stdin >/dev/null
echo "demo-standard-pass" | $CLI user create --account demo-hosting --name standard --role standard --password-stdin >/dev/null
echo "demo-basic-pass" | $CLI user create --account demo-hosting --name basic --role basic --password-stdin >/dev/null
ADMIN_TOKEN=$($CLI token create --user admin)
STANDARD_TOKEN=$($CLI token create --user standard)
BASIC_TOKEN=$($CLI token create --user basic)
# the store belongs to the servers' worker user; the key file stays root's
chown -R "$WORKER_USER:$WORKER_USER" "$DEMO_DIR/store"
chown root:root "$STORE.key"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$DEMO_DIR/fallback.key" -out "$DEMO_DIR/fallback.crt" \
    -subj /CN=certinext-demo-fallback -days 30 2>/dev/null

cat > "$DEMO_DIR/nginx.conf" <<CONF
load_module $ROOT/build/ngx_http_certinext_module.so;
worker_processes 2;
user $WORKER_USER;
error_log $DEMO_DIR/nginx-error.log info;
pid $DEMO_DIR/nginx.pid;
events { worker_connections 1024; }
http {
    access_log $DEMO_DIR/nginx-access.log;
    client_body_temp_path $DEMO_DIR/nginx-body;
    certinext_store $STORE;
    certinext_agent on;
    server {
        listen 127.0.0.1:$NGX_HTTP;
        listen 127.0.0.1:$NGX_HTTPS ssl;
        server_name _;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $DEMO_DIR/fallback.crt;
        ssl_certificate_key $DEMO_DIR/fallback.key;
        certinext_ssl on;
        # refusals before any location (a %00 in the path) as problem documents
        error_page 400 /certinext/_error/400;
        location /certinext/ { certinext; }
        location / { return 200 "certinext demo: open /certinext/\n"; }
    }
}
CONF
nginx -t -q -c "$DEMO_DIR/nginx.conf" -p "$DEMO_DIR"
nginx -c "$DEMO_DIR/nginx.conf" -p "$DEMO_DIR"

# httpd beside nginx, on the same store
mkdir -p "$DEMO_DIR/htdocs"
echo "certinext demo: open /certinext/" > "$DEMO_DIR/htdocs/index.html"
cat > "$DEMO_DIR/httpd.conf" <<CONF
ServerRoot $DEMO_DIR
DefaultRuntimeDir $DEMO_DIR
PidFile $DEMO_DIR/httpd.pid
Mutex file:$DEMO_DIR default
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule socache_shmcb_module $MODS/mod_socache_shmcb.so
LoadModule ssl_module $MODS/mod_ssl.so
LoadModule reqtimeout_module $MODS/mod_reqtimeout.so
LoadModule certinext_module $ROOT/build/mod_certinext.so
# slow clients must not hold workers: the request line and headers within
# 20-40 s, the body at 500 bytes/s at least
RequestReadTimeout header=20-40,MinRate=500 body=20,MinRate=500
TraceEnable off
StartServers 2
User $WORKER_USER
Group $WORKER_USER
ServerName localhost
ErrorLog $DEMO_DIR/httpd-error.log
Listen 127.0.0.1:$APA_HTTP
Listen 127.0.0.1:$APA_HTTPS
DocumentRoot $DEMO_DIR/htdocs
<Directory $DEMO_DIR/htdocs>
    Require all granted
</Directory>
CertInextStore $STORE
CertInextAgent On
# refusals before any handler (a %00 in the path) as problem documents
ErrorDocument 400 /certinext/_error/400
ErrorDocument 404 /certinext/_error/404
<VirtualHost 127.0.0.1:$APA_HTTP>
    <Location "/certinext">
        SetHandler certinext
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:$APA_HTTPS>
    SSLEngine on
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    SSLCertificateFile $DEMO_DIR/fallback.crt
    SSLCertificateKeyFile $DEMO_DIR/fallback.key
    CertInextSSL On
    <Location "/certinext">
        SetHandler certinext
    </Location>
</VirtualHost>
CONF
apache2 -d "$DEMO_DIR" -f "$DEMO_DIR/httpd.conf" -t 2>/dev/null
apache2 -d "$DEMO_DIR" -f "$DEMO_DIR/httpd.conf" -k start

cat > "$DEMO_DIR/tokens.env" <<ENV
ADMIN_TOKEN=$ADMIN_TOKEN
STANDARD_TOKEN=$STANDARD_TOKEN
BASIC_TOKEN=$BASIC_TOKEN
ENV
chmod 600 "$DEMO_DIR/tokens.env"

cat <<MSG

certinext demo is running (store: $STORE)

  nginx   http://127.0.0.1:$NGX_HTTP/certinext/    https://127.0.0.1:$NGX_HTTPS/certinext/
  httpd   http://127.0.0.1:$APA_HTTP/certinext/    https://127.0.0.1:$APA_HTTPS/certinext/

Both servers share one store: an order placed on one is approved, paid and
served on the other, and a new certificate is served by both without a reload.

Web page logins (account demo-hosting, 1000 credits, domains example.com and demo.lan):
  admin / demo-admin-pass      (Administrator, authorized signatory)
  standard / demo-standard-pass
  basic / demo-basic-pass

API tokens (also in $DEMO_DIR/tokens.env):
  admin     $ADMIN_TOKEN
  standard  $STANDARD_TOKEN
  basic     $BASIC_TOKEN

Try the workflow:
  A=http://127.0.0.1:$NGX_HTTP/certinext/api/v1
  curl -s -H "Authorization: Bearer $BASIC_TOKEN" -H 'Content-Type: application/json' \\
       -d '{"product":"dv-ssl","common_name":"www.example.com"}' \$A/orders
  curl -s -X POST -H "Authorization: Bearer $ADMIN_TOKEN" \$A/orders/R-000001/approve
  curl -s -X POST -H "Authorization: Bearer $BASIC_TOKEN" \$A/orders/R-000001/pay
  openssl s_client -connect 127.0.0.1:$NGX_HTTPS -servername www.example.com </dev/null 2>/dev/null | openssl x509 -noout -subject -serial
  openssl s_client -connect 127.0.0.1:$APA_HTTPS -servername www.example.com </dev/null 2>/dev/null | openssl x509 -noout -subject -serial

Stop it with: make demo-stop
MSG
