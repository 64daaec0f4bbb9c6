/* store.c - opening, migrating and transacting on the SQLite control store. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "store_int.h"

#define BUSY_TIMEOUT_MS 10000

/*
 * Schema migrations, applied in order; migration i brings the schema from
 * version i to i+1, inside one transaction together with the user_version
 * update.  Never edit a released step: add a new one.
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
};

/* The default catalog of API.md ("Products in a new store"), all on the built-in CA. */
static const char seed_catalog[] =
    "INSERT INTO cas(name, kind, created_at) VALUES ('builtin', 'local', ?1);"
    "INSERT INTO products(code, type, max_names, wildcard, max_validity_days, price,"
    "                     price_per_name, ca_id) VALUES"
    " ('dv-ssl',       'dv',       1,   0, 200, 10,  0, 1),"
    " ('dv-multi',     'dv',       100, 0, 200, 10,  5, 1),"
    " ('dv-wildcard',  'dv',       2,   1, 200, 50,  0, 1),"
    " ('ov-ssl',       'ov',       100, 1, 200, 40,  0, 1),"
    " ('ev-ssl',       'ev',       100, 0, 200, 100, 0, 1),"
    " ('intranet-ssl', 'intranet', 100, 1, 397, 5,   0, 1);";

int st_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return CIN_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CIN_EBUSY;
    case SQLITE_CONSTRAINT:
        return CIN_EEXIST;
    case SQLITE_NOMEM:
        return CIN_ENOMEM;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_FULL:
        return CIN_EIO;
    default:
        return CIN_ERR;
    }
}

sqlite3_stmt *st_prep(cin_store *st, const char *sql)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        cin_log(&st->svc, CIN_LOG_ERROR, "store: cannot prepare statement: %s",
                sqlite3_errmsg(st->db));
        return NULL;
    }
    return s;
}

int st_exec(cin_store *st, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);

    if (rc != SQLITE_OK) {
        cin_log(&st->svc, CIN_LOG_DEBUG, "store: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return st_status(rc);
}

char *st_text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);

    return t ? strdup((const char *)t) : NULL;
}

void st_bind_text(sqlite3_stmt *s, int idx, const char *v)
{
    if (v)
        sqlite3_bind_text(s, idx, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, idx);
}

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

int st_row(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW)
        return CIN_OK;
    return rc == SQLITE_DONE ? CIN_ENOTFOUND : st_status(rc);
}

int st_ids(sqlite3_stmt *s, int64_t **ids, size_t *n)
{
    size_t cap = 16;
    int64_t *v = malloc(cap * sizeof(*v)), *m;

    *ids = NULL;
    *n = 0;
    if (!v) {
        sqlite3_finalize(s);
        return CIN_ENOMEM;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (*n == cap) {
            m = realloc(v, cap * 2 * sizeof(*v));
            if (!m) {
                free(v);
                sqlite3_finalize(s);
                *n = 0;
                return CIN_ENOMEM;
            }
            v = m;
            cap *= 2;
        }
        v[(*n)++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    *ids = v;
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

static int user_version(cin_store *st)
{
    sqlite3_stmt *s = st_prep(st, "PRAGMA user_version");
    int v = -1;

    if (s && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

int cin_store_schema_version(cin_store *st)
{
    return user_version(st);
}

static int migrate(cin_store *st, int max_version, int seed, char **err)
{
    int v = user_version(st), n = (int)(sizeof(migrations) / sizeof(migrations[0]));

    if (v < 0) {
        cin_seterr(err, "%s is not a certinext store: %s", st->path, sqlite3_errmsg(st->db));
        return CIN_EIO;
    }
    if (v > n) {
        cin_seterr(err, "store %s has schema version %d, newer than this certinext (%d)", st->path,
                   v, n);
        return CIN_EINVAL;
    }
    if (max_version > n || max_version < 0)
        max_version = n;
    while (v < max_version) {
        char pragma[64];
        int rc = cin_store_begin(st);

        if (rc != CIN_OK) {
            cin_seterr(err, "cannot lock store %s for migration", st->path);
            return rc;
        }
        /* another process may have migrated while we waited for the lock */
        v = user_version(st);
        if (v >= max_version) {
            cin_store_rollback(st);
            break;
        }
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        rc = st_exec(st, migrations[v]);
        if (rc == CIN_OK && v == 0 && seed) {
            sqlite3_stmt *s;
            const char *tail = seed_catalog;
            char now[21];

            st_now_text(st, now);
            while (rc == CIN_OK && tail && *tail) {
                s = NULL;
                if (sqlite3_prepare_v2(st->db, tail, -1, &s, &tail) != SQLITE_OK) {
                    rc = CIN_ERR;
                    break;
                }
                if (!s)
                    break;
                if (sqlite3_bind_parameter_count(s) > 0)
                    st_bind_text(s, 1, now);
                if (sqlite3_step(s) != SQLITE_DONE)
                    rc = CIN_ERR;
                sqlite3_finalize(s);
            }
        }
        if (rc == CIN_OK)
            rc = st_exec(st, pragma);
        if (rc == CIN_OK)
            rc = cin_store_commit(st);
        if (rc != CIN_OK) {
            cin_seterr(err, "migration of %s to schema %d failed: %s", st->path, v + 1,
                       sqlite3_errmsg(st->db));
            cin_store_rollback(st);
            return rc;
        }
        v++;
    }
    return CIN_OK;
}

static int open_common(const char *path, const cin_services *svc, const cin_kek *kek, int load_kek,
                       int create, int max_version, cin_store **out, char **err)
{
    cin_store *st;
    char *keypath = NULL;
    struct stat sb;
    uint64_t g;
    int rc = CIN_ERR, flags;

    *out = NULL;
    if (!path || !*path) {
        cin_seterr(err, "no store path given (use --store PATH or CERTINEXT_STORE)");
        return CIN_EINVAL;
    }
    keypath = cin_asprintf("%s.key", path);
    if (!keypath)
        return CIN_ENOMEM;
    if (create) {
        if (stat(path, &sb) == 0) {
            cin_seterr(err, "%s already exists; refusing to overwrite a store", path);
            free(keypath);
            return CIN_EEXIST;
        }
        if (stat(keypath, &sb) == 0) {
            cin_seterr(err, "%s already exists; refusing to overwrite a key file", keypath);
            free(keypath);
            return CIN_EEXIST;
        }
    } else if (stat(path, &sb) != 0) {
        cin_seterr(err, "no store at %s (create one with: certinext init --store %s)", path, path);
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
    st->path = strdup(path);
    st->gen_path = cin_asprintf("%s.gen", path);
    if (!st->path || !st->gen_path) {
        rc = CIN_ENOMEM;
        goto fail;
    }
    if (create) {
        rc = cin_kek_create(keypath, err);
        if (rc != CIN_OK)
            goto fail;
    }
    if (kek) {
        st->kek = *kek;
        st->have_kek = 1;
    } else if (load_kek || create) {
        rc = cin_kek_load(keypath, &st->kek, err);
        if (rc != CIN_OK)
            goto fail;
        st->have_kek = 1;
    }
    flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        cin_seterr(err, "cannot open store %s: %s", path,
                   st->db ? sqlite3_errmsg(st->db) : "out of memory");
        rc = CIN_EIO;
        goto fail;
    }
    if (create)
        chmod(path, 0600);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(st->db, 1);
    if (st_exec(st, "PRAGMA journal_mode=WAL") != CIN_OK ||
        st_exec(st, "PRAGMA foreign_keys=ON") != CIN_OK ||
        st_exec(st, "PRAGMA synchronous=NORMAL") != CIN_OK) {
        cin_seterr(err, "cannot configure store %s: %s", path, sqlite3_errmsg(st->db));
        rc = CIN_EIO;
        goto fail;
    }
    rc = migrate(st, max_version, create || user_version(st) == 0, err);
    if (rc != CIN_OK)
        goto fail;
    rc = cin_gen_open(st->gen_path, &st->gen, err);
    if (rc != CIN_OK)
        goto fail;
    /* root (the CLI, a server's parent) must not leave files the store's
     * owner - the server's worker user - cannot write; SQLite does the same
     * for its -wal and -shm files */
    if (geteuid() == 0 && stat(path, &sb) == 0 && sb.st_uid != 0)
        if (chown(st->gen_path, sb.st_uid, sb.st_gid) != 0)
            cin_log(&st->svc, CIN_LOG_WARN, "cannot chown %s: %s", st->gen_path, strerror(errno));
    /* bring the published value forward if a writer died before publishing */
    if (cin_store_generation(st, &g) == CIN_OK)
        cin_gen_publish(st->gen, g);
    free(keypath);
    *out = st;
    return CIN_OK;
fail:
    if (create && rc != CIN_EEXIST) {
        /* leave nothing half-made behind */
        if (st->db) {
            sqlite3_close(st->db);
            st->db = NULL;
        }
        unlink(path);
        unlink(keypath);
    }
    free(keypath);
    cin_store_close(st);
    return rc;
}

int cin_store_open(const char *path, const cin_services *svc, cin_store **out, char **err)
{
    return open_common(path, svc, NULL, 1, 0, -1, out, err);
}

int cin_store_open_version(const char *path, const cin_services *svc, int max_version,
                           cin_store **out, char **err)
{
    return open_common(path, svc, NULL, 1, 0, max_version, out, err);
}

int cin_store_open_kek(const char *path, const cin_services *svc, const cin_kek *kek,
                       cin_store **out, char **err)
{
    return open_common(path, svc, kek, 0, 0, -1, out, err);
}

int cin_store_create(const char *path, const cin_services *svc, cin_store **out, char **err)
{
    return open_common(path, svc, NULL, 1, 1, -1, out, err);
}

void cin_store_close(cin_store *st)
{
    if (!st)
        return;
    if (st->db)
        sqlite3_close_v2(st->db);
    cin_gen_close(st->gen);
    cin_memzero(&st->kek, sizeof(st->kek));
    free(st->path);
    free(st->gen_path);
    free(st);
}

const char *cin_store_path(const cin_store *st)
{
    return st->path;
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
    return sqlite3_errmsg(st->db);
}

int cin_store_begin(cin_store *st)
{
    int rc;

    if (st->in_tx)
        return CIN_ECONFLICT;
    /* BEGIN IMMEDIATE waits (busy handler) for the write lock up front */
    rc = st_exec(st, "BEGIN IMMEDIATE");
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
    rc = st_exec(st, "COMMIT");
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        return rc;
    }
    st->in_tx = 0;
    if (st->pending_gen && st->gen)
        cin_gen_publish(st->gen, st->pending_gen);
    st->pending_gen = 0;
    return CIN_OK;
}

void cin_store_rollback(cin_store *st)
{
    if (sqlite3_get_autocommit(st->db) == 0)
        st_exec(st, "ROLLBACK");
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

int cin_store_generation(cin_store *st, uint64_t *out)
{
    sqlite3_stmt *s = st_prep(st, "SELECT value FROM counters WHERE name = 'generation'");
    int rc = CIN_ERR;

    if (s && sqlite3_step(s) == SQLITE_ROW) {
        *out = (uint64_t)sqlite3_column_int64(s, 0);
        rc = CIN_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

uint64_t cin_store_generation_published(cin_store *st)
{
    return st->gen ? cin_gen_read(st->gen) : 0;
}

int cin_store_generation_bump(cin_store *st, uint64_t *newval)
{
    uint64_t g;
    int rc;

    if (!st->in_tx)
        return CIN_ECONFLICT;
    rc = st_exec(st, "UPDATE counters SET value = value + 1 WHERE name = 'generation'");
    if (rc == CIN_OK)
        rc = cin_store_generation(st, &g);
    if (rc != CIN_OK)
        return rc;
    st->pending_gen = g;
    if (newval)
        *newval = g;
    return CIN_OK;
}

int cin_store_check(cin_store *st, char **err)
{
    sqlite3_stmt *s = st_prep(st, "PRAGMA integrity_check");
    int rc = CIN_ERR;

    if (s && sqlite3_step(s) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(s, 0);
        if (r && strcmp(r, "ok") == 0)
            rc = CIN_OK;
        else
            cin_seterr(err, "integrity check failed: %s", r ? r : "no answer");
    } else {
        cin_seterr(err, "integrity check failed: %s", sqlite3_errmsg(st->db));
    }
    sqlite3_finalize(s);
    if (rc == CIN_OK) {
        s = st_prep(st, "PRAGMA foreign_key_check");
        if (s && sqlite3_step(s) == SQLITE_ROW) {
            cin_seterr(err, "foreign key check failed in table %s", sqlite3_column_text(s, 0));
            rc = CIN_ERR;
        }
        sqlite3_finalize(s);
    }
    return rc;
}

int cin_store_backup(cin_store *st, const char *dest, char **err)
{
    sqlite3 *out = NULL;
    sqlite3_backup *b;
    struct stat sb;
    int rc;

    if (stat(dest, &sb) == 0) {
        cin_seterr(err, "%s already exists; choose a new backup file", dest);
        return CIN_EEXIST;
    }
    if (sqlite3_open_v2(dest, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        cin_seterr(err, "cannot create %s: %s", dest, out ? sqlite3_errmsg(out) : "no memory");
        sqlite3_close(out);
        return CIN_EIO;
    }
    chmod(dest, 0600);
    b = sqlite3_backup_init(out, "main", st->db, "main");
    if (!b) {
        cin_seterr(err, "backup failed: %s", sqlite3_errmsg(out));
        sqlite3_close(out);
        unlink(dest);
        return CIN_EIO;
    }
    do {
        rc = sqlite3_backup_step(b, 256);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(20);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        cin_seterr(err, "backup failed: %s", sqlite3_errstr(rc));
        sqlite3_close(out);
        unlink(dest);
        return CIN_EIO;
    }
    sqlite3_close(out);
    return CIN_OK;
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
