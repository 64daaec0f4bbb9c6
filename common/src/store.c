/*
 * store.c - opening, migrating and transacting on the control store, whatever
 * its engine (the driver behind db.h does what differs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "store_int.h"

/*
 * Schema migrations, applied in order; migration i brings the schema from
 * version i to i+1, inside one transaction together with the version update.
 * They are written in the portable DDL both engines accept, which a driver
 * translates where it must (db_driver.ddl: INTEGER PRIMARY KEY becomes an
 * identity column on PostgreSQL).  Never edit a released step: add a new one.
 */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema */
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  credits INTEGER NOT NULL DEFAULT 0 CHECK (credits >= 0),"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE domains ("
    "  name TEXT PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX domains_account ON domains(account_id);"
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','standard','basic')),"
    "  signatory INTEGER NOT NULL DEFAULT 0,"
    "  password_hash TEXT,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  name TEXT NOT NULL,"
    "  prefix TEXT NOT NULL UNIQUE,"
    "  hash TEXT NOT NULL,"
    "  expires_at INTEGER,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE cas ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('local','acme')),"
    "  directory_url TEXT,"
    "  eab_kid TEXT,"
    "  eab_hmac BLOB,"
    "  trust_pem TEXT,"
    "  contact TEXT,"
    "  account_url TEXT,"
    "  account_key BLOB,"
    "  root_pem TEXT,"
    "  intermediate_pem TEXT,"
    "  intermediate_key BLOB,"
    "  root_key BLOB,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE products ("
    "  code TEXT PRIMARY KEY,"
    "  type TEXT NOT NULL CHECK (type IN ('dv','ov','ev','intranet')),"
    "  max_names INTEGER NOT NULL,"
    "  wildcard INTEGER NOT NULL,"
    "  max_validity_days INTEGER NOT NULL,"
    "  price INTEGER NOT NULL,"
    "  price_per_name INTEGER NOT NULL DEFAULT 0,"
    "  ca_id INTEGER NOT NULL REFERENCES cas(id));"
    "CREATE TABLE private_keys ("
    "  id INTEGER PRIMARY KEY,"
    "  key_type TEXT NOT NULL,"
    "  sealed BLOB NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE orders ("
    "  id INTEGER PRIMARY KEY,"
    "  order_number INTEGER UNIQUE,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  requester_id INTEGER NOT NULL REFERENCES users(id),"
    "  status TEXT NOT NULL,"
    "  product TEXT NOT NULL REFERENCES products(code),"
    "  common_name TEXT NOT NULL,"
    "  sans TEXT NOT NULL,"
    "  key_source TEXT NOT NULL,"
    "  key_type TEXT NOT NULL,"
    "  validity_days INTEGER NOT NULL,"
    "  auto_renew INTEGER NOT NULL DEFAULT 0,"
    "  price INTEGER NOT NULL,"
    "  approved_by TEXT, approved_at TEXT,"
    "  rejection_reason TEXT,"
    "  signatory_by TEXT, signatory_at TEXT,"
    "  parent_id INTEGER REFERENCES orders(id),"
    "  kind TEXT NOT NULL DEFAULT 'new',"
    "  csr_pem TEXT,"
    "  key_id INTEGER REFERENCES private_keys(id),"
    "  cert_id INTEGER,"
    "  error TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_at INTEGER NOT NULL DEFAULT 0,"
    "  admin_approved INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL);"
    "CREATE INDEX orders_account ON orders(account_id, id);"
    "CREATE INDEX orders_status ON orders(status, next_attempt_at);"
    "CREATE INDEX orders_cert ON orders(cert_id);"
    "CREATE TABLE order_events ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER,"
    "  order_id INTEGER,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  at TEXT NOT NULL,"
    "  peer TEXT,"
    "  detail TEXT);"
    "CREATE INDEX events_order ON order_events(order_id, id);"
    "CREATE INDEX events_account ON order_events(account_id, id);"
    "CREATE TABLE certificates ("
    "  id INTEGER PRIMARY KEY,"
    "  order_id INTEGER NOT NULL REFERENCES orders(id),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  serial TEXT NOT NULL,"
    "  names TEXT NOT NULL,"
    "  not_before TEXT NOT NULL,"
    "  not_after TEXT NOT NULL,"
    "  not_after_ts INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  issuer TEXT NOT NULL,"
    "  chain_pem TEXT NOT NULL,"
    "  key_id INTEGER REFERENCES private_keys(id),"
    "  status TEXT NOT NULL DEFAULT 'active',"
    "  revocation_reason TEXT,"
    "  ca_notified INTEGER NOT NULL DEFAULT 0,"
    "  changed_gen INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX certs_changed ON certificates(changed_gen);"
    "CREATE INDEX certs_status ON certificates(status, not_after_ts);"
    "CREATE INDEX certs_unnotified ON certificates(ca_notified, status);"
    "CREATE INDEX certs_order ON certificates(order_id);"
    "CREATE TABLE cert_names ("
    "  name TEXT NOT NULL,"
    "  cert_id INTEGER NOT NULL REFERENCES certificates(id),"
    "  PRIMARY KEY (name, cert_id));"
    "CREATE INDEX cert_names_cert ON cert_names(cert_id);"
    "CREATE TABLE ledger ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  order_id INTEGER,"
    "  delta INTEGER NOT NULL,"
    "  balance INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  actor TEXT,"
    "  at TEXT NOT NULL);"
    "CREATE TABLE leases ("
    "  name TEXT PRIMARY KEY,"
    "  holder TEXT NOT NULL,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE TABLE counters ("
    "  name TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL);"
    "INSERT INTO counters(name, value) VALUES ('generation', 0), ('order_number', 0);",

    /* 1 -> 2: web sessions, login throttling, idempotent replies, challenges */
    "CREATE TABLE sessions ("
    "  hash TEXT PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  csrf TEXT NOT NULL,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE TABLE login_failures ("
    "  key TEXT PRIMARY KEY,"
    "  count INTEGER NOT NULL,"
    "  window_start INTEGER NOT NULL);"
    "CREATE TABLE idempotency ("
    "  scope TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  PRIMARY KEY (scope, key));"
    "CREATE TABLE challenges ("
    "  kind TEXT NOT NULL,"
    "  token TEXT NOT NULL,"
    "  content TEXT NOT NULL,"
    "  order_id INTEGER,"
    "  expires_at INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, token));",

    /* 2 -> 3: durable ACME steps per order, and store-wide settings */
    "CREATE TABLE acme_orders ("
    "  order_id INTEGER PRIMARY KEY REFERENCES orders(id),"
    "  ca TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL);"
    "CREATE TABLE settings ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);"
    "ALTER TABLE certificates ADD COLUMN revoke_next_at INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX orders_parent ON orders(parent_id);"
    "CREATE INDEX orders_renew ON orders(auto_renew, status, next_attempt_at);"
    "ALTER TABLE cas ADD COLUMN preferred_chain TEXT;",

    /* 3 -> 4: certificates.not_before as epoch seconds, for the renewal
     * query (no engine date function: strftime is SQLite's alone).  Existing
     * rows are filled from their text, which is always YYYY-MM-DDTHH:MM:SSZ
     * (UTC), by days-from-civil arithmetic in integers (Gregorian, years
     * counted from March so that the leap day comes last); a row whose text
     * does not have that shape keeps 0, which the renewal query knows. */
    "ALTER TABLE certificates ADD COLUMN not_before_ts INTEGER NOT NULL DEFAULT 0;"
    "UPDATE certificates SET not_before_ts = ("
    "  SELECT 86400 * CAST(365 * y + y / 4 - y / 100 + y / 400"
    "                      + (153 * ((m + 9) % 12) + 2) / 5 + d - 719469 AS BIGINT)"
    "         + 3600 * hh + 60 * mi + ss"
    "  FROM (SELECT CAST(substr(certificates.not_before, 1, 4) AS INTEGER)"
    "               - CASE WHEN CAST(substr(certificates.not_before, 6, 2) AS INTEGER) <= 2"
    "                 THEN 1 ELSE 0 END AS y,"
    "               CAST(substr(certificates.not_before, 6, 2) AS INTEGER) AS m,"
    "               CAST(substr(certificates.not_before, 9, 2) AS INTEGER) AS d,"
    "               CAST(substr(certificates.not_before, 12, 2) AS INTEGER) AS hh,"
    "               CAST(substr(certificates.not_before, 15, 2) AS INTEGER) AS mi,"
    "               CAST(substr(certificates.not_before, 18, 2) AS INTEGER) AS ss) AS t)"
    " WHERE not_before LIKE '____-__-__T__:__:__Z';",

    /* 4 -> 5: login throttling by reserved slots (store_login.c); lineages
     * with one active certificate (superseded orders, a reissue's end capped
     * at its parent's, renewal timing that follows the original's lifetime,
     * CA clean-up after a cancel); domain changes for the TLS index */
    "DROP TABLE login_failures;"
    "CREATE TABLE login_attempts ("
    "  id INTEGER PRIMARY KEY,"
    "  user_key TEXT NOT NULL,"
    "  peer TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('inflight','failed')),"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX login_attempts_user ON login_attempts(user_key, at);"
    "CREATE INDEX login_attempts_peer ON login_attempts(peer, at);"
    "ALTER TABLE orders ADD COLUMN superseded_by INTEGER;"
    "ALTER TABLE orders ADD COLUMN not_after_cap INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE orders ADD COLUMN ca_cleanup INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE certificates ADD COLUMN lifetime_start INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE certificates ADD COLUMN lifetime_end INTEGER NOT NULL DEFAULT 0;"
    "UPDATE certificates SET lifetime_start = not_before_ts, lifetime_end = not_after_ts;"
    "UPDATE certificates SET status = 'superseded', ca_notified = 1 WHERE status = 'replaced';"
    "UPDATE orders SET status = 'superseded', superseded_by = (SELECT max(c.id) FROM orders c"
    "  WHERE c.parent_id = orders.id AND c.kind IN ('renewal','reissue') AND c.cert_id IS NOT NULL)"
    " WHERE status IN ('issued','expired') AND cert_id IN"
    "  (SELECT id FROM certificates WHERE status = 'superseded');"
    "CREATE INDEX orders_cleanup ON orders(ca_cleanup, next_attempt_at);"
    "CREATE TABLE domain_log ("
    "  name TEXT NOT NULL,"
    "  gen INTEGER NOT NULL);"
    "CREATE INDEX domain_log_gen ON domain_log(gen);",

    /* 5 -> 6: the hosts of a fleet and how far each has mirrored the store */
    "CREATE TABLE hosts ("
    "  host_id TEXT PRIMARY KEY,"
    "  name TEXT,"
    "  synced_gen INTEGER NOT NULL,"
    "  seen_at INTEGER NOT NULL);",

    /* 6 -> 7, issue 13 (ACME server): the credentials customers' ACME clients bind
     * with (EAB, HMAC key sealed), their ACME accounts, nonces, and ACME
     * orders bound to the workflow's orders */
    "CREATE TABLE acmesrv_credentials ("
    "  id INTEGER PRIMARY KEY,"
    "  key_id TEXT NOT NULL UNIQUE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL,"
    "  product TEXT,"
    "  auto_pay INTEGER NOT NULL DEFAULT 0,"
    "  hmac BLOB NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE acmesrv_accounts ("
    "  id INTEGER PRIMARY KEY,"
    "  credential_id INTEGER NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  thumbprint TEXT NOT NULL UNIQUE,"
    "  jwk TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  contact TEXT NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE acmesrv_nonces ("
    "  nonce TEXT PRIMARY KEY,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE INDEX acmesrv_nonces_exp ON acmesrv_nonces(expires_at);"
    "CREATE TABLE acmesrv_orders ("
    "  id INTEGER PRIMARY KEY,"
    "  acct_id INTEGER NOT NULL REFERENCES acmesrv_accounts(id),"
    "  identifiers TEXT NOT NULL,"
    "  product TEXT NOT NULL,"
    "  replaces INTEGER NOT NULL DEFAULT 0,"
    "  order_id INTEGER,"
    "  finalized INTEGER NOT NULL DEFAULT 0,"
    "  csr TEXT,"
    "  expires_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX acmesrv_orders_acct ON acmesrv_orders(acct_id, created_at);"
    "CREATE INDEX acmesrv_orders_order ON acmesrv_orders(order_id);",
    /* 7 -> 8, issue 17: AutoSSL - an account's policy (the product every assigned
     * domain gets automatically, and whether www. comes along) and one row
     * per (domain, account) it ordered for: no duplicate order, a retry
     * time and the alert when it could not order (short credits) */
    "ALTER TABLE accounts ADD COLUMN auto_product TEXT;"
    "ALTER TABLE accounts ADD COLUMN auto_www INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE auto_orders ("
    "  name TEXT NOT NULL,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  order_id INTEGER,"
    "  next_at INTEGER NOT NULL DEFAULT 0,"
    "  alert TEXT,"
    "  PRIMARY KEY (name, account_id));"
    "CREATE INDEX certs_sha256 ON certificates(sha256);",
    /* 8 -> 9, issue 16: the account hierarchy.  path is the chain of ids from the
     * root, "/1/5/9/", so that "is a descendant of" is a prefix test in C and
     * a LIKE in SQL (no recursive query); requires_parent_approval, billing
     * and auto_policy are set by the parent's administrators. */
    "ALTER TABLE accounts ADD COLUMN parent_id INTEGER REFERENCES accounts(id);"
    "ALTER TABLE accounts ADD COLUMN path TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE accounts ADD COLUMN requires_parent_approval INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN billing TEXT NOT NULL DEFAULT 'prepaid';"
    "ALTER TABLE accounts ADD COLUMN auto_policy INTEGER NOT NULL DEFAULT 0;"
    "UPDATE accounts SET path = '/' || CAST(id AS TEXT) || '/';"
    "CREATE INDEX accounts_path ON accounts(path);"
    "CREATE INDEX ledger_order ON ledger(order_id);"
    /* logins an enterprise trusts: TOTP (sealed secret, the last step
     * accepted so that a code is accepted once), recovery codes (hashes),
     * client certificates a user registered, and per account the enforced
     * second factor and the peer addresses allowed */
    "ALTER TABLE accounts ADD COLUMN require_2fa INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE accounts ADD COLUMN ip_allowlist TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE user_totp ("
    "  user_id INTEGER PRIMARY KEY REFERENCES users(id),"
    "  secret BLOB NOT NULL,"
    "  confirmed INTEGER NOT NULL DEFAULT 0,"
    "  last_step INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE recovery_codes ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  hash TEXT NOT NULL,"
    "  used INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX recovery_codes_user ON recovery_codes(user_id);"
    "CREATE TABLE user_certs ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  sha256 TEXT,"
    "  issuer TEXT,"
    "  serial TEXT,"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX user_certs_user ON user_certs(user_id);"
    /* groups of users, the group that approves a product's orders, and
     * custom fields filled on new orders */
    "CREATE TABLE user_groups ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (account_id, name));"
    "CREATE TABLE group_members ("
    "  group_id INTEGER NOT NULL REFERENCES user_groups(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  PRIMARY KEY (group_id, user_id));"
    "CREATE TABLE product_approvers ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  product TEXT NOT NULL,"
    "  group_id INTEGER NOT NULL REFERENCES user_groups(id),"
    "  PRIMARY KEY (account_id, product));"
    "CREATE TABLE custom_fields ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL CHECK (type IN ('text','number','choice')),"
    "  required INTEGER NOT NULL DEFAULT 0,"
    "  choices TEXT,"
    "  products TEXT,"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (account_id, name));"
    "CREATE TABLE order_fields ("
    "  order_id INTEGER NOT NULL REFERENCES orders(id),"
    "  name TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (order_id, name));",
    /* 9 -> 10, issue 14: the challenge type each ACME CA is answered with (NULL: http-01) */
    "ALTER TABLE cas ADD COLUMN challenge TEXT;",
    /* 10 -> 11, issue 14: dns-01 by RFC 2136 updates signed with TSIG (the secret sealed) */
    "ALTER TABLE cas ADD COLUMN dns_update TEXT;"
    "ALTER TABLE cas ADD COLUMN tsig_name TEXT;"
    "ALTER TABLE cas ADD COLUMN tsig_alg TEXT;"
    "ALTER TABLE cas ADD COLUMN tsig_secret BLOB;",
    /* 11 -> 12, issue 14: CA failover - a product's ordered CAs, the CA an order is at */
    "ALTER TABLE cas ADD COLUMN failover_after INTEGER;"
    "CREATE TABLE product_cas ("
    "  product TEXT NOT NULL REFERENCES products(code),"
    "  position INTEGER NOT NULL,"
    "  ca_id INTEGER NOT NULL REFERENCES cas(id),"
    "  PRIMARY KEY (product, position));"
    "CREATE TABLE order_cas ("
    "  order_id INTEGER NOT NULL PRIMARY KEY REFERENCES orders(id),"
    "  ca_id INTEGER NOT NULL REFERENCES cas(id),"
    "  attempts INTEGER NOT NULL);",
    /* 12 -> 13, issue 14: distrust - the CA marked, its certificates queued for replacement */
    "ALTER TABLE cas ADD COLUMN distrusted_at INTEGER;"
    "CREATE TABLE distrust_queue ("
    "  cert_id INTEGER NOT NULL PRIMARY KEY REFERENCES certificates(id),"
    "  order_id INTEGER NOT NULL REFERENCES orders(id),"
    "  ca_id INTEGER REFERENCES cas(id),"
    "  reason TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  replacement_id INTEGER REFERENCES orders(id),"
    "  started_at INTEGER);"
    "CREATE INDEX distrust_queue_state ON distrust_queue(state, cert_id);",
    /* 13 -> 14, issue 14: self-service domain claims, pending their TXT record */
    "CREATE TABLE domain_claims ("
    "  name TEXT NOT NULL,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  token TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (name, account_id));",
    /* 14 -> 15, issue 14: the ACME profile a CA is asked for (draft-ietf-acme-profiles) */
    "ALTER TABLE cas ADD COLUMN profile TEXT;",
    /* 15 -> 16, issue 15: users' notification e-mail and
     * opt-in; webhooks (secret sealed); the outbox of e-mails and webhook
     * deliveries that the agent sends and retries */
    "ALTER TABLE users ADD COLUMN email TEXT;"
    "ALTER TABLE users ADD COLUMN notify INTEGER NOT NULL DEFAULT 1;"
    "CREATE TABLE webhooks ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  url TEXT NOT NULL,"
    "  events TEXT NOT NULL,"
    "  secret BLOB NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('mail','webhook')),"
    "  webhook_id INTEGER,"
    "  recipient TEXT NOT NULL,"
    "  subject TEXT,"
    "  body TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  order_id INTEGER,"
    "  state TEXT NOT NULL DEFAULT 'queued',"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"
    "  last_status INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  sent_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX outbox_due ON outbox(state, next_at);"
    "CREATE INDEX outbox_webhook ON outbox(webhook_id, id);"
    "CREATE TABLE expiry_notices ("
    "  cert_id INTEGER NOT NULL,"
    "  level INTEGER NOT NULL,"
    "  PRIMARY KEY (cert_id, level));",

    /* 16 -> 17, issue 16: an ACME credential's preset of custom field values
     * (JSON object name -> text), which its ACME orders carry since an ACME
     * client cannot fill the account's custom fields */
    "ALTER TABLE acmesrv_credentials ADD COLUMN fields TEXT;",
    /* 17 -> 18, issue 13 (ACME server, second part): pre-authorizations (newAuthz,
     * order_ref 0), the orders that use one (order_ref, idx, preauth) and deactivated
     * authorizations of ACME orders (order_ref, idx),
     * which make an order that has no certificate yet invalid (deactivated); where
     * a workflow order came from (via 'acme', via_name: the credential) */
    "CREATE TABLE acmesrv_authzs ("
    "  id INTEGER PRIMARY KEY,"
    "  acct_id INTEGER NOT NULL REFERENCES acmesrv_accounts(id),"
    "  identifier TEXT NOT NULL,"
    "  order_ref INTEGER NOT NULL DEFAULT 0,"
    "  idx INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  preauth INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX acmesrv_authzs_acct ON acmesrv_authzs(acct_id, identifier);"
    "CREATE INDEX acmesrv_authzs_order ON acmesrv_authzs(order_ref, idx);"
    "CREATE INDEX acmesrv_authzs_preauth ON acmesrv_authzs(preauth);"
    "ALTER TABLE acmesrv_orders ADD COLUMN deactivated INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE orders ADD COLUMN via TEXT;"
    "ALTER TABLE orders ADD COLUMN via_name TEXT;",
    /* 18 -> 19, issue 15 (round 2): per-event opt-out (space-separated event names a
     * user does not want e-mail for), and the addresses an account's administrator
     * sets for the account (comma-separated; they get the administrators' e-mails) */
    "ALTER TABLE users ADD COLUMN notify_off TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE accounts ADD COLUMN notify_emails TEXT;",
    /* 19 -> 20, issue 14: each certificate's ARI renewal window (RFC 9773),
     * the time picked in it, when to ask again, and whether the CA moved it
     * earlier (a free reissue was started) */
    "CREATE TABLE cert_ari ("
    "  cert_id INTEGER PRIMARY KEY REFERENCES certificates(id),"
    "  window_start INTEGER NOT NULL,"
    "  window_end INTEGER NOT NULL,"
    "  planned_at INTEGER NOT NULL,"
    "  next_check INTEGER NOT NULL,"
    "  explanation TEXT,"
    "  moved INTEGER NOT NULL DEFAULT 0,"
    "  checked_at INTEGER NOT NULL);",
};

/* The default catalog of API.md ("Products in a new store"), all on the built-in CA. */
static const char seed_catalog[] =
    "INSERT INTO cas(name, kind, created_at) VALUES ('builtin', 'local', '%s');"
    "INSERT INTO products(code, type, max_names, wildcard, max_validity_days, price,"
    "                     price_per_name, ca_id) VALUES"
    " ('dv-ssl',       'dv',       1,   0, 200, 10,  0, 1),"
    " ('dv-multi',     'dv',       100, 0, 200, 10,  5, 1),"
    " ('dv-wildcard',  'dv',       2,   1, 200, 50,  0, 1),"
    " ('ov-ssl',       'ov',       100, 1, 200, 40,  0, 1),"
    " ('ev-ssl',       'ev',       100, 0, 200, 100, 0, 1),"
    " ('intranet-ssl', 'intranet', 100, 1, 397, 5,   0, 1);";

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

time_t st_now(cin_store *st)
{
    return cin_now(&st->svc);
}

void st_now_text(cin_store *st, char buf[21])
{
    cin_time_rfc3339(st_now(st), buf);
}

char *st_strv_json(char **v, size_t n)
{
    json_t *a = json_array();
    char *s;
    size_t i;

    for (i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

int st_json_strv(const char *text, char ***v, size_t *n)
{
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;
    size_t i, k = 0;

    *v = NULL;
    *n = 0;
    if (!a || !json_is_array(a)) {
        json_decref(a);
        return CIN_EINVAL;
    }
    *v = calloc(json_array_size(a) + 1, sizeof(char *));
    if (!*v) {
        json_decref(a);
        return CIN_ENOMEM;
    }
    for (i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s)
            (*v)[k++] = strdup(s);
    }
    *n = k;
    json_decref(a);
    return CIN_OK;
}

void cin_strv_free(char **v, size_t n)
{
    size_t i;

    if (!v)
        return;
    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int cin_store_schema_version(cin_store *st)
{
    int v = -1;

    if (st->drv->schema_version(st, &v) != CIN_OK)
        return -1;
    return v;
}

/* One migration step, inside the caller's transaction. */
static int migrate_step(cin_store *st, int v, int seed)
{
    char *ddl = st->drv->ddl(migrations[v]);
    int rc = ddl ? db_exec(st, ddl) : CIN_ENOMEM;

    free(ddl);
    if (rc == CIN_OK && v == 0 && seed) {
        char now[21], *sql;
        st_now_text(st, now);
        sql = cin_asprintf(seed_catalog, now);
        rc = sql ? db_exec(st, sql) : CIN_ENOMEM;
        free(sql);
    }
    if (rc == CIN_OK)
        rc = st->drv->set_schema_version(st, v + 1);
    return rc;
}

static int migrate(cin_store *st, int max_version, int seed, char **err)
{
    int v = cin_store_schema_version(st);

    if (v < 0) {
        cin_seterr(err, "%s is not a certinext store: %s", st->path, st->drv->errmsg(st));
        return CIN_EIO;
    }
    if (v > NMIGRATIONS) {
        cin_seterr(err, "store %s has schema version %d, newer than this certinext (%d)", st->path,
                   v, NMIGRATIONS);
        return CIN_EINVAL;
    }
    if (max_version > NMIGRATIONS || max_version < 0)
        max_version = NMIGRATIONS;
    while (v < max_version) {
        int rc = cin_store_begin(st);

        if (rc != CIN_OK) {
            cin_seterr(err, "cannot lock store %s for migration", st->path);
            return rc;
        }
        /* another process may have migrated while we waited for the lock */
        v = cin_store_schema_version(st);
        if (v >= max_version) {
            cin_store_rollback(st);
            break;
        }
        rc = migrate_step(st, v, seed);
        if (rc == CIN_OK)
            rc = cin_store_commit(st);
        if (rc != CIN_OK) {
            cin_seterr(err, "migration of %s to schema %d failed: %s", st->path, v + 1,
                       st->drv->errmsg(st));
            cin_store_rollback(st);
            return rc;
        }
        v++;
    }
    return CIN_OK;
}

/*
 * The key's fingerprint, recorded in the store: every host of a fleet must
 * hold the same key-encryption key, and a host with another one refuses to
 * start here rather than failing handshakes later.  An HMAC of a fixed label
 * under the key, so the store learns nothing about the key itself.
 */
static int kek_fingerprint(const cin_kek *kek, char hex[33])
{
    unsigned char mac[32];
    unsigned int len = 0;

    if (!HMAC(EVP_sha256(), kek->key, CIN_KEK_LEN,
              (const unsigned char *)"certinext key fingerprint", 25, mac, &len))
        return CIN_ERR;
    cin_hex(mac, 16, hex);
    return CIN_OK;
}

static int check_fingerprint(cin_store *st, const char *keypath, char **err)
{
    char mine[33], *stored = NULL;
    int rc;

    /* (a store held below schema 3, for a migration test, has no settings) */
    if (!st->have_kek || cin_store_schema_version(st) < 3)
        return CIN_OK;
    rc = kek_fingerprint(&st->kek, mine);
    if (rc == CIN_OK)
        rc = cin_store_setting_get(st, "kek_fingerprint", &stored);
    if (rc == CIN_ENOTFOUND) {
        /* a store made before fingerprints: this key opened it, so record it */
        rc = cin_store_begin(st);
        if (rc == CIN_OK)
            rc = cin_store_end(st, cin_store_setting_set(st, "kek_fingerprint", mine));
        if (rc != CIN_OK)
            cin_seterr(err, "cannot record the key's fingerprint in the store: %s",
                       cin_strstatus(rc));
        return rc;
    }
    if (rc == CIN_OK && strcmp(stored, mine)) {
        cin_seterr(err,
                   "the key file %s is not the key of this store (its fingerprint is %s, the "
                   "store's is %s): every host of a fleet needs the same key file",
                   keypath ? keypath : "(given)", mine, stored);
        rc = CIN_EPERM;
    } else if (rc != CIN_OK) {
        cin_seterr(err, "cannot read the store's key fingerprint: %s", cin_strstatus(rc));
    }
    free(stored);
    return rc;
}

/* The name a message may show: a URI without its password. */
char *cin_store_display_name(const char *target)
{
    const char *scheme = strstr(target, "://"), *p, *at, *colon, *query;
    size_t len = strlen(target), o = 0;
    char *out;

    if (!scheme)
        return strdup(target);
    if (!(out = malloc(2 * len + 16)))
        return NULL;
    query = strchr(scheme + 3, '?');
    at = memchr(scheme + 3, '@', (size_t)((query ? query : target + len) - scheme - 3));
    colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    p = target;
    if (colon) {
        memcpy(out, target, (size_t)(colon - target));
        o = (size_t)(colon - target);
        memcpy(out + o, ":***", 4);
        o += 4;
        p = at;
    }
    if (!query)
        query = target + len;
    memcpy(out + o, p, (size_t)(query - p));
    o += (size_t)(query - p);
    /* the query's password parameter, like the user information's, is never shown */
    for (p = query; *p;) {
        size_t n = strcspn(p + 1, "&") + 1;
        memcpy(out + o, p, n < 10 ? n : 10);
        o += n < 10 ? n : 10;
        if (n > 10 && !strncasecmp(p + 1, "password=", 9)) {
            memcpy(out + o, "***", 3);
            o += 3;
        } else if (n > 10) {
            memcpy(out + o, p + 10, n - 10);
            o += n - 10;
        }
        p += n;
    }
    out[o] = '\0';
    return out;
}

static int open_common(const char *target, const cin_services *svc, const cin_store_opts *o,
                       cin_store **out, char **err)
{
    cin_store *st;
    char *keypath = NULL;
    struct stat sb;
    uint64_t g, published;
    int rc = CIN_ERR, v = 0, pg = db_is_uri(target), made_key = 0;
    int make_key = o->create && !o->kek; /* a host's mirror is made with the key it has */

    *out = NULL;
    if (!target || !*target) {
        cin_seterr(err, "no store given (use --store PATH or URI, or CERTINEXT_STORE)");
        return CIN_EINVAL;
    }
    if (o->key_file && *o->key_file)
        keypath = strdup(o->key_file);
    else if (!pg)
        keypath = cin_asprintf("%s.key", target);
    else if (!o->kek && (o->load_kek || o->create)) {
        cin_seterr(err, "a PostgreSQL store needs its key file named (--key-file, "
                        "CERTINEXT_KEY_FILE, certinext_key_file, CertInextKeyFile)");
        return CIN_EINVAL;
    }
    if ((o->key_file || !pg) && !keypath)
        return CIN_ENOMEM;
    if (o->create) {
        if (!pg && stat(target, &sb) == 0) {
            cin_seterr(err, "%s already exists; refusing to overwrite a store", target);
            free(keypath);
            return CIN_EEXIST;
        }
        if (make_key && keypath && stat(keypath, &sb) == 0) {
            cin_seterr(err, "%s already exists; refusing to overwrite a key file", keypath);
            free(keypath);
            return CIN_EEXIST;
        }
    } else if (!pg && stat(target, &sb) != 0) {
        cin_seterr(err, "no store at %s (create one with: certinext init --store %s)", target,
                   target);
        free(keypath);
        return CIN_ENOTFOUND;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        free(keypath);
        return CIN_ENOMEM;
    }
    if (svc)
        st->svc = *svc;
    st->drv = pg ? &db_pg_driver : &db_sqlite_driver;
    st->path = strdup(target);
    st->name = cin_store_display_name(target);
    /* a SQLite store's generation is published beside it; a PostgreSQL
     * store's reaches a host through its mirror (mirror.c) */
    st->gen_path = pg ? NULL : cin_asprintf("%s.gen", target);
    if (!st->path || !st->name || (!pg && !st->gen_path)) {
        rc = CIN_ENOMEM;
        goto fail;
    }
    rc = st->drv->open(st, target, o->create, err);
    if (rc != CIN_OK)
        goto fail;
    if (o->create && pg) {
        rc = st->drv->schema_version(st, &v);
        if (rc == CIN_OK && v > 0) {
            cin_seterr(err, "%s already holds a certinext store; refusing to overwrite it",
                       st->name);
            rc = CIN_EEXIST;
            goto fail;
        }
    }
    if (make_key) {
        rc = cin_kek_create(keypath, err);
        if (rc != CIN_OK)
            goto fail;
        made_key = 1;
    }
    if (o->kek) {
        st->kek = *o->kek;
        st->have_kek = 1;
    } else if (o->load_kek || make_key) {
        rc = cin_kek_load(keypath, &st->kek, err);
        if (rc != CIN_OK)
            goto fail;
        st->have_kek = 1;
    }
    rc = st->drv->schema_version(st, &v);
    if (rc == CIN_OK)
        rc = migrate(st, o->max_version, o->create || v == 0, err);
    else
        cin_seterr(err, "%s is not a certinext store: %s", st->name, st->drv->errmsg(st));
    if (rc != CIN_OK)
        goto fail;
    rc = check_fingerprint(st, keypath, err);
    if (rc != CIN_OK)
        goto fail;
    if (st->gen_path) {
        rc = cin_gen_open(st->gen_path, &st->gen, err);
        if (rc != CIN_OK)
            goto fail;
        /* root (the CLI, a server's parent) must not leave files the store's
         * owner - the server's worker user - cannot write; SQLite does the
         * same for its -wal and -shm files */
        if (geteuid() == 0 && stat(target, &sb) == 0 && sb.st_uid != 0)
            if (chown(st->gen_path, sb.st_uid, sb.st_gid) != 0)
                cin_log(&st->svc, CIN_LOG_WARN, "cannot chown %s: %s", st->gen_path,
                        strerror(errno));
        /* bring the published value forward if a writer died before
         * publishing, or back if the store went back (see cin_gen_lower:
         * the file is read first) */
        published = cin_gen_read(st->gen);
        if (cin_store_generation(st, &g) == CIN_OK) {
            if (cin_store_generation_went_back(st, published, g))
                cin_log(&st->svc, CIN_LOG_WARN,
                        "%s: the store's generation (%llu) is behind the one published in %s "
                        "(%llu): the store was restored from a backup or replaced; servers read "
                        "their certificate index anew",
                        st->name, (unsigned long long)g, st->gen_path,
                        (unsigned long long)published);
            else
                cin_gen_publish(st->gen, g);
        }
    }
    free(keypath);
    *out = st;
    return CIN_OK;
fail:
    if (o->create && rc != CIN_EEXIST) {
        /* leave nothing half-made behind */
        st->drv->close(st);
        if (!pg)
            unlink(target);
        if (made_key)
            unlink(keypath);
    }
    free(keypath);
    cin_store_close(st);
    return rc;
}

int cin_store_open_opts(const char *target, const cin_services *svc, const cin_store_opts *o,
                        cin_store **out, char **err)
{
    return open_common(target, svc, o, out, err);
}

int cin_store_open(const char *path, const cin_services *svc, cin_store **out, char **err)
{
    cin_store_opts o = {NULL, NULL, 1, 0, -1};

    return open_common(path, svc, &o, out, err);
}

int cin_store_open_version(const char *path, const cin_services *svc, int max_version,
                           cin_store **out, char **err)
{
    cin_store_opts o = {NULL, NULL, 1, 0, max_version};

    return open_common(path, svc, &o, out, err);
}

int cin_store_open_kek(const char *path, const cin_services *svc, const cin_kek *kek,
                       cin_store **out, char **err)
{
    cin_store_opts o = {NULL, kek, 0, 0, -1};

    return open_common(path, svc, &o, out, err);
}

int cin_store_create(const char *path, const cin_services *svc, cin_store **out, char **err)
{
    cin_store_opts o = {NULL, NULL, 1, 1, -1};

    return open_common(path, svc, &o, out, err);
}

void cin_store_close(cin_store *st)
{
    if (!st)
        return;
    if (st->drv)
        st->drv->close(st);
    cin_gen_close(st->gen);
    cin_memzero(&st->kek, sizeof(st->kek));
    free(st->path);
    free(st->name);
    free(st->gen_path);
    free(st);
}

const char *cin_store_path(const cin_store *st)
{
    return st->path;
}

const char *cin_store_name(const cin_store *st)
{
    return st->name;
}

const cin_kek *cin_store_kek(const cin_store *st)
{
    return st->have_kek ? &st->kek : NULL;
}

int cin_store_target_is_central(const char *target)
{
    return db_is_uri(target);
}

int cin_store_is_central(const cin_store *st)
{
    return st->drv == &db_pg_driver;
}

const char *cin_store_gen_path(const cin_store *st)
{
    return st->gen_path;
}

const cin_services *cin_store_services(const cin_store *st)
{
    return &st->svc;
}

const char *cin_store_errmsg(cin_store *st)
{
    return st->drv->errmsg(st);
}

int cin_store_begin(cin_store *st)
{
    int rc;

    if (st->in_tx)
        return CIN_ECONFLICT;
    rc = st->drv->begin(st);
    if (rc != CIN_OK)
        return rc;
    st->in_tx = 1;
    st->pending_gen = 0;
    return CIN_OK;
}

int cin_store_commit(cin_store *st)
{
    int rc;

    if (!st->in_tx)
        return CIN_ECONFLICT;
    rc = st->drv->commit(st);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        return rc;
    }
    st->in_tx = 0;
    if (st->pending_gen && st->gen)
        cin_gen_publish(st->gen, st->pending_gen);
    if (st->pending_gen > st->committed_gen)
        st->committed_gen = st->pending_gen;
    st->pending_gen = 0;
    return CIN_OK;
}

void cin_store_rollback(cin_store *st)
{
    st->drv->rollback(st);
    st->in_tx = 0;
    st->pending_gen = 0;
}

int cin_store_end(cin_store *st, int rc)
{
    if (rc == CIN_OK)
        return cin_store_commit(st);
    cin_store_rollback(st);
    return rc;
}

int cin_store_hosts_wait(cin_store *st, uint64_t gen, int timeout_ms, char **lagging)
{
    int64_t until = cin_monotonic_ms() + timeout_ms;
    db_stmt *s;
    int rc;

    if (lagging)
        *lagging = NULL;
    for (;;) {
        s = db_prepare(st, "SELECT host_id, name FROM hosts WHERE seen_at > ?1 AND synced_gen < ?2"
                           " ORDER BY synced_gen LIMIT 1");
        db_bind_int(s, 1, (int64_t)st_now(st) - CIN_HOST_LIVE_SECONDS);
        db_bind_int(s, 2, (int64_t)gen);
        rc = db_step(s);
        if (rc == DB_ROW && lagging && cin_monotonic_ms() >= until) {
            free(*lagging);
            *lagging = cin_asprintf("%s (%s)", db_col_text(s, 1) ? db_col_text(s, 1) : "?",
                                    db_col_text(s, 0) ? db_col_text(s, 0) : "?");
        }
        db_finalize(s);
        if (rc != DB_ROW)
            return rc; /* CIN_OK: none behind; or the store's error */
        if (cin_monotonic_ms() >= until)
            return CIN_EBUSY;
        cin_pause_ms(20);
    }
}

int cin_store_in_transaction(const cin_store *st)
{
    return st->in_tx;
}

int cin_store_generation(cin_store *st, uint64_t *out)
{
    db_stmt *s = db_prepare(st, "SELECT value FROM counters WHERE name = 'generation'");
    int rc = db_one(s);

    if (rc == CIN_OK)
        *out = (uint64_t)db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

uint64_t cin_store_take_committed_generation(cin_store *st)
{
    uint64_t g = st->committed_gen;

    st->committed_gen = 0;
    return g;
}

int cin_store_generation_went_back(cin_store *st, uint64_t published, uint64_t seen)
{
    uint64_t now;

    if (!st->gen || !cin_gen_lower(st->gen, published, seen))
        return 0;
    if (cin_store_generation(st, &now) == CIN_OK)
        cin_gen_publish(st->gen, now);
    return 1;
}

uint64_t cin_store_generation_published(cin_store *st)
{
    return st->gen ? cin_gen_read(st->gen) : 0;
}

int cin_store_generation_bump(cin_store *st, uint64_t *newval)
{
    db_stmt *s;
    int rc;

    if (!st->in_tx)
        return CIN_ECONFLICT;
    s = db_prepare(st, "UPDATE counters SET value = value + 1 WHERE name = 'generation'"
                       " RETURNING value");
    rc = db_one(s);
    if (rc == CIN_OK) {
        st->pending_gen = (uint64_t)db_col_int(s, 0);
        if (newval)
            *newval = st->pending_gen;
    }
    db_finalize(s);
    if (rc == CIN_OK && st->drv->notify)
        rc = st->drv->notify(st); /* delivered at commit */
    return rc;
}

int cin_store_generation_set(cin_store *st, uint64_t value)
{
    db_stmt *s;
    int rc;

    if (!st->in_tx)
        return CIN_ECONFLICT;
    s = db_prepare(st, "UPDATE counters SET value = ?1 WHERE name = 'generation'");
    db_bind_int(s, 1, (int64_t)value);
    rc = db_run(s);
    if (rc == CIN_OK)
        st->pending_gen = value;
    return rc;
}

int st_notify(cin_store *st)
{
    return st->drv->notify ? st->drv->notify(st) : CIN_OK;
}

int cin_store_check(cin_store *st, char **err)
{
    return st->drv->check(st, err);
}

int cin_store_backup(cin_store *st, const char *dest, char **err)
{
    return st->drv->backup(st, dest, err);
}

int cin_store_seal(cin_store *st, const char *label, const unsigned char *pt, size_t ptlen,
                   unsigned char **out, size_t *outlen)
{
    if (!st->have_kek)
        return CIN_EPERM;
    return cin_seal(&st->kek, label, pt, ptlen, out, outlen);
}

int cin_store_unseal(cin_store *st, const char *label, const unsigned char *in, size_t inlen,
                     unsigned char **out, size_t *outlen)
{
    if (!st->have_kek)
        return CIN_EPERM;
    return cin_open(&st->kek, label, in, inlen, out, outlen);
}

int cin_store_query_text(cin_store *st, const char *sql, char **out)
{
    db_stmt *s;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;
    int rc, cols, i;

    *out = NULL;
    f = open_memstream(&buf, &len);
    if (!f)
        return CIN_ENOMEM;
    /* statement by statement, as the sqlite3 shell prints them: a|b per row */
    while (sql && *sql) {
        const char *end = strchr(sql, ';');
        char *one = end ? strndup(sql, (size_t)(end - sql)) : strdup(sql);
        const char *p = one;
        while (p && (*p == ' ' || *p == '\n'))
            p++;
        if (!one) {
            fclose(f);
            free(buf);
            return CIN_ENOMEM;
        }
        if (*p) {
            s = db_prepare(st, p);
            cols = 0;
            while ((rc = db_step(s)) == DB_ROW) {
                cols = db_col_count(s);
                for (i = 0; i < cols; i++) {
                    const char *v = db_col_text(s, i);
                    fprintf(f, "%s%s", i ? "|" : "", v ? v : "");
                }
                fputc('\n', f);
            }
            db_finalize(s);
            if (rc != CIN_OK) {
                free(one);
                fclose(f);
                free(buf);
                return rc;
            }
        }
        free(one);
        sql = end ? end + 1 : NULL;
    }
    fclose(f);
    *out = buf;
    return CIN_OK;
}
