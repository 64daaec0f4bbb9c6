/* store_order.c - orders, events, idempotent replies, keys, certificates, leases, challenges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_store_order.h"
#include "store_int.h"

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            void *m_ = realloc((arr), (cap)*2 * sizeof(*(arr)));                                   \
            if (!m_)                                                                               \
                goto oom;                                                                          \
            (arr) = m_;                                                                            \
            memset((arr) + (cap), 0, (cap) * sizeof(*(arr)));                                      \
            (cap) *= 2;                                                                            \
        }                                                                                          \
    } while (0)

static void bind_id(sqlite3_stmt *s, int idx, int64_t v)
{
    if (v > 0)
        sqlite3_bind_int64(s, idx, v);
    else
        sqlite3_bind_null(s, idx);
}

/* ---- orders -------------------------------------------------------------- */

void cin_order_clear(cin_order *o)
{
    if (!o)
        return;
    free(o->account);
    free(o->requester);
    free(o->status);
    free(o->product);
    free(o->common_name);
    cin_strv_free(o->sans, o->nsans);
    free(o->key_source);
    free(o->key_type);
    free(o->approved_by);
    free(o->approved_at);
    free(o->rejection_reason);
    free(o->signatory_by);
    free(o->signatory_at);
    free(o->kind);
    free(o->csr_pem);
    free(o->error_json);
    free(o->created_at);
    free(o->updated_at);
    memset(o, 0, sizeof(*o));
}

#define ORDER_COLS                                                                                 \
    "o.id, coalesce(o.order_number, 0), o.account_id, a.name, o.requester_id, u.name, o.status, "  \
    "o.product, o.common_name, o.sans, o.key_source, o.key_type, o.validity_days, o.auto_renew, "  \
    "o.price, o.approved_by, o.approved_at, o.rejection_reason, o.signatory_by, o.signatory_at, "  \
    "coalesce(o.parent_id, 0), o.kind, o.csr_pem, coalesce(o.key_id, 0), coalesce(o.cert_id, 0), " \
    "o.error, o.attempts, o.next_attempt_at, o.admin_approved, o.created_at, o.updated_at "        \
    "FROM orders o JOIN accounts a ON a.id = o.account_id JOIN users u ON u.id = o.requester_id "

static void order_fill(sqlite3_stmt *s, cin_order *o)
{
    o->id = sqlite3_column_int64(s, 0);
    o->order_number = sqlite3_column_int64(s, 1);
    o->account_id = sqlite3_column_int64(s, 2);
    o->account = st_text(s, 3);
    o->requester_id = sqlite3_column_int64(s, 4);
    o->requester = st_text(s, 5);
    o->status = st_text(s, 6);
    o->product = st_text(s, 7);
    o->common_name = st_text(s, 8);
    st_json_strv((const char *)sqlite3_column_text(s, 9), &o->sans, &o->nsans);
    o->key_source = st_text(s, 10);
    o->key_type = st_text(s, 11);
    o->validity_days = sqlite3_column_int(s, 12);
    o->auto_renew = sqlite3_column_int(s, 13);
    o->price = sqlite3_column_int64(s, 14);
    o->approved_by = st_text(s, 15);
    o->approved_at = st_text(s, 16);
    o->rejection_reason = st_text(s, 17);
    o->signatory_by = st_text(s, 18);
    o->signatory_at = st_text(s, 19);
    o->parent_id = sqlite3_column_int64(s, 20);
    o->kind = st_text(s, 21);
    o->csr_pem = st_text(s, 22);
    o->key_id = sqlite3_column_int64(s, 23);
    o->cert_id = sqlite3_column_int64(s, 24);
    o->error_json = st_text(s, 25);
    o->attempts = sqlite3_column_int(s, 26);
    o->next_attempt_at = (time_t)sqlite3_column_int64(s, 27);
    o->admin_approved = sqlite3_column_int(s, 28);
    o->created_at = st_text(s, 29);
    o->updated_at = st_text(s, 30);
}

int cin_store_order_insert(cin_store *st, cin_order *o)
{
    sqlite3_stmt *s;
    char now[21], *sans;
    int rc;

    sans = st_strv_json(o->sans, o->nsans);
    if (!sans)
        return CIN_ENOMEM;
    s = st_prep(st,
                "INSERT INTO orders(account_id, requester_id, status, product, common_name, sans,"
                " key_source, key_type, validity_days, auto_renew, price, parent_id, kind,"
                " csr_pem, key_id, admin_approved, approved_by, approved_at, created_at,"
                " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                " ?14, ?15, ?16, ?17, ?18, ?19, ?19)");
    if (!s) {
        free(sans);
        return CIN_ERR;
    }
    st_now_text(st, now);
    sqlite3_bind_int64(s, 1, o->account_id);
    sqlite3_bind_int64(s, 2, o->requester_id);
    st_bind_text(s, 3, o->status);
    st_bind_text(s, 4, o->product);
    st_bind_text(s, 5, o->common_name);
    st_bind_text(s, 6, sans);
    st_bind_text(s, 7, o->key_source ? o->key_source : "server");
    st_bind_text(s, 8, o->key_type ? o->key_type : "ec-p256");
    sqlite3_bind_int(s, 9, o->validity_days);
    sqlite3_bind_int(s, 10, o->auto_renew);
    sqlite3_bind_int64(s, 11, o->price);
    bind_id(s, 12, o->parent_id);
    st_bind_text(s, 13, o->kind ? o->kind : "new");
    st_bind_text(s, 14, o->csr_pem);
    bind_id(s, 15, o->key_id);
    sqlite3_bind_int(s, 16, o->admin_approved);
    st_bind_text(s, 17, o->approved_by);
    st_bind_text(s, 18, o->approved_at);
    st_bind_text(s, 19, now);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    free(sans);
    if (rc == CIN_OK) {
        o->id = sqlite3_last_insert_rowid(st->db);
        free(o->created_at);
        free(o->updated_at);
        o->created_at = strdup(now);
        o->updated_at = strdup(now);
    }
    return rc;
}

int cin_store_order_update(cin_store *st, cin_order *o)
{
    sqlite3_stmt *s;
    char now[21], *sans;
    int rc;

    sans = st_strv_json(o->sans, o->nsans);
    if (!sans)
        return CIN_ENOMEM;
    s = st_prep(st, "UPDATE orders SET status = ?1, order_number = ?2, approved_by = ?3,"
                    " approved_at = ?4, rejection_reason = ?5, signatory_by = ?6,"
                    " signatory_at = ?7, csr_pem = ?8, key_id = ?9, cert_id = ?10, error = ?11,"
                    " attempts = ?12, next_attempt_at = ?13, price = ?14, sans = ?15,"
                    " common_name = ?16, admin_approved = ?17, auto_renew = ?18, key_type = ?19,"
                    " updated_at = ?20 WHERE id = ?21");
    if (!s) {
        free(sans);
        return CIN_ERR;
    }
    st_now_text(st, now);
    st_bind_text(s, 1, o->status);
    bind_id(s, 2, o->order_number);
    st_bind_text(s, 3, o->approved_by);
    st_bind_text(s, 4, o->approved_at);
    st_bind_text(s, 5, o->rejection_reason);
    st_bind_text(s, 6, o->signatory_by);
    st_bind_text(s, 7, o->signatory_at);
    st_bind_text(s, 8, o->csr_pem);
    bind_id(s, 9, o->key_id);
    bind_id(s, 10, o->cert_id);
    st_bind_text(s, 11, o->error_json);
    sqlite3_bind_int(s, 12, o->attempts);
    sqlite3_bind_int64(s, 13, (int64_t)o->next_attempt_at);
    sqlite3_bind_int64(s, 14, o->price);
    st_bind_text(s, 15, sans);
    st_bind_text(s, 16, o->common_name);
    sqlite3_bind_int(s, 17, o->admin_approved);
    sqlite3_bind_int(s, 18, o->auto_renew);
    st_bind_text(s, 19, o->key_type);
    st_bind_text(s, 20, now);
    sqlite3_bind_int64(s, 21, o->id);
    rc = st_status(sqlite3_step(s));
    if (rc == CIN_OK && sqlite3_changes(st->db) == 0)
        rc = CIN_ENOTFOUND;
    sqlite3_finalize(s);
    free(sans);
    if (rc == CIN_OK) {
        free(o->updated_at);
        o->updated_at = strdup(now);
    }
    return rc;
}

int cin_store_order_get(cin_store *st, int64_t id, cin_order *out)
{
    sqlite3_stmt *s = st_prep(st, "SELECT " ORDER_COLS "WHERE o.id = ?1");
    int rc;

    memset(out, 0, sizeof(*out));
    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, id);
    rc = st_row(s);
    if (rc == CIN_OK) {
        order_fill(s, out);
    }
    sqlite3_finalize(s);
    return rc;
}

int cin_store_order_list(cin_store *st, const cin_order_filter *f, cin_order **out, size_t *n)
{
    sqlite3_stmt *s;
    size_t cap = 16;
    char *like = NULL;

    *out = NULL;
    *n = 0;
    s = st_prep(st, "SELECT " ORDER_COLS "WHERE (?1 <= 0 OR o.account_id = ?1)"
                    " AND (?2 <= 0 OR o.requester_id = ?2) AND (?3 IS NULL OR o.status = ?3)"
                    " AND (?4 IS NULL OR o.sans LIKE ?4 ESCAPE '\\')"
                    " AND (?5 <= 0 OR o.id < ?5) ORDER BY o.id DESC LIMIT ?6");
    if (!s)
        return CIN_ERR;
    if (f->q && *f->q) {
        /* escape LIKE's wildcards so that q matches literally */
        size_t i, k = 0, len = strlen(f->q);
        like = malloc(len * 2 + 3);
        if (!like)
            goto oom;
        like[k++] = '%';
        for (i = 0; i < len; i++) {
            if (f->q[i] == '%' || f->q[i] == '_' || f->q[i] == '\\')
                like[k++] = '\\';
            like[k++] = f->q[i];
        }
        like[k++] = '%';
        like[k] = '\0';
    }
    sqlite3_bind_int64(s, 1, f->account_id);
    sqlite3_bind_int64(s, 2, f->requester_id);
    st_bind_text(s, 3, f->status);
    st_bind_text(s, 4, like);
    sqlite3_bind_int64(s, 5, f->before_id);
    sqlite3_bind_int(s, 6, f->limit > 0 ? f->limit : 50);
    *out = calloc(cap, sizeof(**out));
    if (!*out)
        goto oom;
    while (sqlite3_step(s) == SQLITE_ROW) {
        GROW(*out, *n, cap);
        order_fill(s, &(*out)[(*n)++]);
    }
    sqlite3_finalize(s);
    free(like);
    return CIN_OK;
oom:
    sqlite3_finalize(s);
    free(like);
    cin_order_list_free(*out, *n);
    *out = NULL;
    *n = 0;
    return CIN_ENOMEM;
}

void cin_order_list_free(cin_order *o, size_t n)
{
    size_t i;

    for (i = 0; o && i < n; i++)
        cin_order_clear(&o[i]);
    free(o);
}

int cin_store_order_number_next(cin_store *st, int64_t *out)
{
    sqlite3_stmt *s;
    int rc;

    rc = st_exec(st, "UPDATE counters SET value = value + 1 WHERE name = 'order_number'");
    if (rc != CIN_OK)
        return rc;
    s = st_prep(st, "SELECT value FROM counters WHERE name = 'order_number'");
    if (!s)
        return CIN_ERR;
    rc = sqlite3_step(s) == SQLITE_ROW ? CIN_OK : CIN_ERR;
    if (rc == CIN_OK)
        *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc;
}

int cin_store_order_due(cin_store *st, const char *status, time_t now, int64_t **ids, size_t *n)
{
    sqlite3_stmt *s = st_prep(st, "SELECT id FROM orders WHERE status = ?1 AND "
                                  "next_attempt_at <= ?2 ORDER BY id LIMIT 1000");
    *ids = NULL;
    *n = 0;
    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, status);
    sqlite3_bind_int64(s, 2, (int64_t)now);
    return st_ids(s, ids, n);
}

int cin_store_order_renewal_due(cin_store *st, time_t now, double fraction, int64_t **ids,
                                size_t *n)
{
    sqlite3_stmt *s =
        st_prep(st, "SELECT o.id FROM orders o JOIN certificates c ON c.id = o.cert_id WHERE"
                    " o.status = 'issued' AND o.auto_renew = 1 AND o.next_attempt_at <= ?1 AND"
                    " c.status = 'active' AND c.not_after_ts - ?1 <= ?2 * (c.not_after_ts -"
                    " CAST(strftime('%s', c.not_before) AS INTEGER)) AND NOT EXISTS (SELECT 1 FROM"
                    " orders r WHERE r.parent_id = o.id AND r.kind = 'renewal' AND r.status NOT IN"
                    " ('rejected', 'cancelled', 'failed')) ORDER BY o.id LIMIT 100");
    *ids = NULL;
    *n = 0;
    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, (int64_t)now);
    sqlite3_bind_double(s, 2, fraction);
    return st_ids(s, ids, n);
}

int cin_store_order_has_renewal(cin_store *st, int64_t parent_id)
{
    sqlite3_stmt *s = st_prep(st, "SELECT 1 FROM orders WHERE parent_id = ?1 AND kind ="
                                  " 'renewal' AND status NOT IN ('rejected', 'cancelled',"
                                  " 'failed')");
    int found;

    if (!s)
        return 0;
    sqlite3_bind_int64(s, 1, parent_id);
    found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return found;
}

int cin_store_order_expired(cin_store *st, time_t now, int64_t **ids, size_t *n)
{
    /* walks the index of active certificates by expiry: cheap at any size */
    sqlite3_stmt *s = st_prep(st, "SELECT o.id FROM certificates c JOIN orders o ON"
                                  " o.cert_id = c.id WHERE c.status = 'active' AND"
                                  " c.not_after_ts < ?1 AND o.status = 'issued' ORDER BY o.id"
                                  " LIMIT 1000");
    *ids = NULL;
    *n = 0;
    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, (int64_t)now);
    return st_ids(s, ids, n);
}

/* ---- events -------------------------------------------------------------- */

int cin_store_event_add(cin_store *st, int64_t account_id, int64_t order_id, const char *actor,
                        const char *action, const char *peer, const char *detail)
{
    sqlite3_stmt *s = st_prep(st, "INSERT INTO order_events(account_id, order_id, actor, action,"
                                  " at, peer, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    char now[21];
    int rc;

    if (!s)
        return CIN_ERR;
    st_now_text(st, now);
    bind_id(s, 1, account_id);
    bind_id(s, 2, order_id);
    st_bind_text(s, 3, actor ? actor : "system");
    st_bind_text(s, 4, action);
    st_bind_text(s, 5, now);
    st_bind_text(s, 6, peer);
    st_bind_text(s, 7, detail);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    return rc;
}

int cin_store_event_list(cin_store *st, int64_t account_id, int64_t order_id, int64_t before_id,
                         int limit, cin_event **out, size_t *n)
{
    sqlite3_stmt *s;
    size_t cap = 16;

    *out = NULL;
    *n = 0;
    if (order_id > 0)
        s = st_prep(st, "SELECT id, coalesce(account_id, 0), coalesce(order_id, 0), actor,"
                        " action, at, peer, detail FROM order_events WHERE order_id = ?2"
                        " AND (?1 <= 0 OR account_id = ?1) ORDER BY id LIMIT ?4");
    else
        s = st_prep(st, "SELECT id, coalesce(account_id, 0), coalesce(order_id, 0), actor,"
                        " action, at, peer, detail FROM order_events WHERE (?1 <= 0 OR"
                        " account_id = ?1) AND (?3 <= 0 OR id < ?3) ORDER BY id DESC LIMIT ?4");
    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, account_id);
    sqlite3_bind_int64(s, 2, order_id);
    sqlite3_bind_int64(s, 3, before_id);
    sqlite3_bind_int(s, 4, limit > 0 ? limit : 1000);
    *out = calloc(cap, sizeof(**out));
    if (!*out)
        goto oom;
    while (sqlite3_step(s) == SQLITE_ROW) {
        cin_event *e;
        GROW(*out, *n, cap);
        e = &(*out)[(*n)++];
        e->id = sqlite3_column_int64(s, 0);
        e->account_id = sqlite3_column_int64(s, 1);
        e->order_id = sqlite3_column_int64(s, 2);
        e->actor = st_text(s, 3);
        e->action = st_text(s, 4);
        e->at = st_text(s, 5);
        e->peer = st_text(s, 6);
        e->detail = st_text(s, 7);
    }
    sqlite3_finalize(s);
    return CIN_OK;
oom:
    sqlite3_finalize(s);
    cin_event_list_free(*out, *n);
    *out = NULL;
    *n = 0;
    return CIN_ENOMEM;
}

void cin_event_list_free(cin_event *e, size_t n)
{
    size_t i;

    for (i = 0; e && i < n; i++) {
        free(e[i].actor);
        free(e[i].action);
        free(e[i].at);
        free(e[i].peer);
        free(e[i].detail);
    }
    free(e);
}

/* ---- idempotency ------------------------------------------------------- */

int cin_store_idem_put(cin_store *st, const char *scope, const char *key, int status,
                       const char *body)
{
    sqlite3_stmt *s = st_prep(st, "INSERT INTO idempotency(scope, key, status, body) "
                                  "VALUES (?1, ?2, ?3, ?4)");
    int rc;

    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, scope);
    st_bind_text(s, 2, key);
    sqlite3_bind_int(s, 3, status);
    st_bind_text(s, 4, body);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    return rc;
}

int cin_store_idem_get(cin_store *st, const char *scope, const char *key, int *status, char **body)
{
    sqlite3_stmt *s =
        st_prep(st, "SELECT status, body FROM idempotency WHERE scope = ?1 AND key = ?2");
    int rc;

    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, scope);
    st_bind_text(s, 2, key);
    rc = st_row(s);
    if (rc == CIN_OK) {
        *status = sqlite3_column_int(s, 0);
        *body = st_text(s, 1);
    }
    sqlite3_finalize(s);
    return rc;
}

/* ---- private keys ------------------------------------------------------ */

int cin_store_key_put(cin_store *st, const char *key_type, const char *pem, int64_t *id)
{
    sqlite3_stmt *s = NULL;
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    char now[21], label[64];
    int64_t next;
    int rc;

    /* the label binds the blob to its row id: a blob copied elsewhere won't open */
    s = st_prep(st, "SELECT coalesce(max(id), 0) + 1 FROM private_keys");
    if (!s)
        return CIN_ERR;
    rc = sqlite3_step(s) == SQLITE_ROW ? CIN_OK : CIN_ERR;
    next = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != CIN_OK)
        return rc;
    snprintf(label, sizeof(label), "private_key:%lld", (long long)next);
    rc = cin_store_seal(st, label, (const unsigned char *)pem, strlen(pem), &blob, &bloblen);
    if (rc != CIN_OK)
        return rc;
    s = st_prep(st, "INSERT INTO private_keys(id, key_type, sealed, created_at) "
                    "VALUES (?1, ?2, ?3, ?4)");
    if (!s) {
        free(blob);
        return CIN_ERR;
    }
    st_now_text(st, now);
    sqlite3_bind_int64(s, 1, next);
    st_bind_text(s, 2, key_type);
    sqlite3_bind_blob(s, 3, blob, (int)bloblen, SQLITE_TRANSIENT);
    st_bind_text(s, 4, now);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    free(blob);
    if (rc == CIN_OK && id)
        *id = next;
    return rc;
}

int cin_store_key_get(cin_store *st, int64_t id, char **pem)
{
    sqlite3_stmt *s = st_prep(st, "SELECT sealed FROM private_keys WHERE id = ?1");
    unsigned char *pt = NULL;
    size_t ptlen = 0;
    char label[64];
    int rc;

    *pem = NULL;
    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(s);
        return rc == SQLITE_DONE ? CIN_ENOTFOUND : st_status(rc);
    }
    snprintf(label, sizeof(label), "private_key:%lld", (long long)id);
    rc = cin_store_unseal(st, label, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0),
                          &pt, &ptlen);
    sqlite3_finalize(s);
    if (rc == CIN_ECRYPTO)
        cin_log(&st->svc, CIN_LOG_ERROR,
                "store: private key %lld failed its integrity check (tampered or wrong KEK)",
                (long long)id);
    if (rc == CIN_OK)
        *pem = (char *)pt;
    return rc;
}

/* ---- certificates ---------------------------------------------------------- */

void cin_cert_clear(cin_cert *c)
{
    if (!c)
        return;
    free(c->serial);
    cin_strv_free(c->names, c->nnames);
    free(c->not_before);
    free(c->not_after);
    free(c->sha256);
    free(c->issuer);
    free(c->chain_pem);
    free(c->status);
    free(c->revocation_reason);
    memset(c, 0, sizeof(*c));
}

int cin_store_cert_insert(cin_store *st, cin_cert *c)
{
    sqlite3_stmt *s;
    uint64_t gen = 0;
    time_t na = 0;
    char *names;
    size_t i;
    int rc;

    rc = cin_store_generation_bump(st, &gen);
    if (rc != CIN_OK)
        return rc;
    if (cin_time_parse(c->not_after, &na) != CIN_OK)
        return CIN_EINVAL;
    names = st_strv_json(c->names, c->nnames);
    if (!names)
        return CIN_ENOMEM;
    s = st_prep(st, "INSERT INTO certificates(order_id, account_id, serial, names, not_before,"
                    " not_after, not_after_ts, sha256, issuer, chain_pem, key_id, status,"
                    " changed_gen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                    " 'active', ?12)");
    if (!s) {
        free(names);
        return CIN_ERR;
    }
    sqlite3_bind_int64(s, 1, c->order_id);
    sqlite3_bind_int64(s, 2, c->account_id);
    st_bind_text(s, 3, c->serial);
    st_bind_text(s, 4, names);
    st_bind_text(s, 5, c->not_before);
    st_bind_text(s, 6, c->not_after);
    sqlite3_bind_int64(s, 7, (int64_t)na);
    st_bind_text(s, 8, c->sha256);
    st_bind_text(s, 9, c->issuer);
    st_bind_text(s, 10, c->chain_pem);
    bind_id(s, 11, c->key_id);
    sqlite3_bind_int64(s, 12, (int64_t)gen);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    free(names);
    if (rc != CIN_OK)
        return rc;
    c->id = sqlite3_last_insert_rowid(st->db);
    free(c->status);
    c->status = strdup("active");
    s = st_prep(st, "INSERT OR IGNORE INTO cert_names(name, cert_id) VALUES (?1, ?2)");
    if (!s)
        return CIN_ERR;
    for (i = 0; rc == CIN_OK && i < c->nnames; i++) {
        sqlite3_reset(s);
        st_bind_text(s, 1, c->names[i]);
        sqlite3_bind_int64(s, 2, c->id);
        rc = st_status(sqlite3_step(s));
    }
    sqlite3_finalize(s);
    return rc;
}

#define CERT_COLS                                                                                  \
    "id, order_id, account_id, serial, names, not_before, not_after, sha256, issuer, chain_pem, "  \
    "coalesce(key_id, 0), status, revocation_reason, ca_notified FROM certificates "

static void cert_fill(sqlite3_stmt *s, cin_cert *c)
{
    c->id = sqlite3_column_int64(s, 0);
    c->order_id = sqlite3_column_int64(s, 1);
    c->account_id = sqlite3_column_int64(s, 2);
    c->serial = st_text(s, 3);
    st_json_strv((const char *)sqlite3_column_text(s, 4), &c->names, &c->nnames);
    c->not_before = st_text(s, 5);
    c->not_after = st_text(s, 6);
    c->sha256 = st_text(s, 7);
    c->issuer = st_text(s, 8);
    c->chain_pem = st_text(s, 9);
    c->key_id = sqlite3_column_int64(s, 10);
    c->status = st_text(s, 11);
    c->revocation_reason = st_text(s, 12);
    c->ca_notified = sqlite3_column_int(s, 13);
}

int cin_store_cert_get(cin_store *st, int64_t id, cin_cert *out)
{
    sqlite3_stmt *s = st_prep(st, "SELECT " CERT_COLS "WHERE id = ?1");
    int rc;

    memset(out, 0, sizeof(*out));
    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, id);
    rc = st_row(s);
    if (rc == CIN_OK) {
        cert_fill(s, out);
    }
    sqlite3_finalize(s);
    return rc;
}

int cin_store_cert_set_status(cin_store *st, int64_t id, const char *status, const char *reason)
{
    sqlite3_stmt *s;
    uint64_t gen = 0;
    int rc;

    rc = cin_store_generation_bump(st, &gen);
    if (rc != CIN_OK)
        return rc;
    s = st_prep(st, "UPDATE certificates SET status = ?1, revocation_reason = ?2,"
                    " changed_gen = ?3 WHERE id = ?4");
    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, status);
    st_bind_text(s, 2, reason);
    sqlite3_bind_int64(s, 3, (int64_t)gen);
    sqlite3_bind_int64(s, 4, id);
    rc = st_status(sqlite3_step(s));
    if (rc == CIN_OK && sqlite3_changes(st->db) == 0)
        rc = CIN_ENOTFOUND;
    sqlite3_finalize(s);
    return rc;
}

int cin_store_cert_mark_notified(cin_store *st, int64_t id, int done)
{
    sqlite3_stmt *s = st_prep(st, "UPDATE certificates SET ca_notified = ?2 WHERE id = ?1");
    int rc;

    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, done);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    return rc;
}

int cin_store_cert_revoke_later(cin_store *st, int64_t id, time_t when)
{
    sqlite3_stmt *s = st_prep(st, "UPDATE certificates SET revoke_next_at = ?2 WHERE id = ?1");
    int rc;

    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, (int64_t)when);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    return rc;
}

int cin_store_cert_unnotified(cin_store *st, time_t now, int64_t **ids, size_t *n)
{
    sqlite3_stmt *s = st_prep(st, "SELECT id FROM certificates WHERE ca_notified = 0 AND"
                                  " status = 'revoked' AND revoke_next_at <= ?1 ORDER BY id"
                                  " LIMIT 1000");
    *ids = NULL;
    *n = 0;
    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, (int64_t)now);
    return st_ids(s, ids, n);
}

int cin_store_cert_list(cin_store *st, int64_t account_id, int64_t requester_id, time_t before,
                        cin_cert **out, size_t *n)
{
    sqlite3_stmt *s = st_prep(
        st, "SELECT " CERT_COLS "WHERE status = 'active' AND (?1 <= 0 OR account_id = ?1) AND"
            " (?2 <= 0 OR order_id IN (SELECT id FROM orders WHERE requester_id = ?2)) AND"
            " (?3 <= 0 OR not_after_ts < ?3) ORDER BY not_after_ts, id LIMIT 10000");
    size_t cap = 16;

    *out = NULL;
    *n = 0;
    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, account_id);
    sqlite3_bind_int64(s, 2, requester_id);
    sqlite3_bind_int64(s, 3, (int64_t)before);
    *out = calloc(cap, sizeof(**out));
    if (!*out)
        goto oom;
    while (sqlite3_step(s) == SQLITE_ROW) {
        GROW(*out, *n, cap);
        cert_fill(s, &(*out)[(*n)++]);
    }
    sqlite3_finalize(s);
    return CIN_OK;
oom:
    sqlite3_finalize(s);
    cin_cert_list_free(*out, *n);
    *out = NULL;
    *n = 0;
    return CIN_ENOMEM;
}

void cin_cert_list_free(cin_cert *c, size_t n)
{
    size_t i;

    for (i = 0; c && i < n; i++)
        cin_cert_clear(&c[i]);
    free(c);
}

int cin_store_names_since(cin_store *st, uint64_t since, cin_name_entry **out, size_t *n,
                          uint64_t *generation)
{
    /* every name touched by a change after `since`, with the newest active
     * certificate that now carries it (0 when none does any more) */
    sqlite3_stmt *s = NULL;
    size_t cap = 64;
    int rc;

    *out = NULL;
    *n = 0;
    /* read the generation and the rows in one read transaction (a consistent snapshot) */
    rc = st_exec(st, "BEGIN");
    if (rc != CIN_OK)
        return rc;
    rc = cin_store_generation(st, generation);
    if (rc != CIN_OK)
        goto done;
    /* Names touched after `since` (found through the changed_gen index), then
     * every certificate carrying each of them (the name index): linear in
     * the names changed, whatever the store's size. */
    s = st_prep(st, "SELECT n.name, max(CASE WHEN c.status = 'active' THEN c.id ELSE 0 END)"
                    " FROM cert_names n JOIN certificates c ON c.id = n.cert_id WHERE n.name IN"
                    " (SELECT n3.name FROM cert_names n3 JOIN certificates c3 ON"
                    " c3.id = n3.cert_id WHERE c3.changed_gen > ?1) GROUP BY n.name");
    if (!s) {
        rc = CIN_ERR;
        goto done;
    }
    sqlite3_bind_int64(s, 1, (int64_t)since);
    *out = calloc(cap, sizeof(**out));
    if (!*out)
        goto oom;
    while (sqlite3_step(s) == SQLITE_ROW) {
        GROW(*out, *n, cap);
        (*out)[*n].name = st_text(s, 0);
        (*out)[*n].cert_id = sqlite3_column_int64(s, 1);
        (*n)++;
    }
    rc = CIN_OK;
    goto done;
oom:
    cin_name_entries_free(*out, *n);
    *out = NULL;
    *n = 0;
    rc = CIN_ENOMEM;
done:
    sqlite3_finalize(s);
    st_exec(st, "COMMIT");
    return rc;
}

void cin_name_entries_free(cin_name_entry *e, size_t n)
{
    size_t i;

    for (i = 0; e && i < n; i++)
        free(e[i].name);
    free(e);
}

/* ---- leases ---------------------------------------------------------------- */

int cin_store_lease_acquire(cin_store *st, const char *name, const char *holder, int ttl)
{
    sqlite3_stmt *s;
    time_t now = st_now(st);
    int rc, own_tx = !st->in_tx;

    if (own_tx && (rc = cin_store_begin(st)) != CIN_OK)
        return rc;
    /* insert, or take over when it is ours or has expired; otherwise no change */
    s = st_prep(st, "INSERT INTO leases(name, holder, expires_at) VALUES (?1, ?2, ?3)"
                    " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,"
                    " expires_at = excluded.expires_at"
                    " WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4");
    if (!s) {
        rc = CIN_ERR;
        goto done;
    }
    st_bind_text(s, 1, name);
    st_bind_text(s, 2, holder);
    sqlite3_bind_int64(s, 3, (int64_t)now + ttl);
    sqlite3_bind_int64(s, 4, (int64_t)now);
    rc = st_status(sqlite3_step(s));
    if (rc == CIN_OK && sqlite3_changes(st->db) == 0)
        rc = CIN_ECONFLICT;
    sqlite3_finalize(s);
done:
    if (own_tx) {
        rc = cin_store_end(st, rc);
    }
    return rc;
}

int cin_store_lease_release(cin_store *st, const char *name, const char *holder)
{
    sqlite3_stmt *s = st_prep(st, "DELETE FROM leases WHERE name = ?1 AND holder = ?2");
    int rc;

    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, name);
    st_bind_text(s, 2, holder);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    return rc;
}

int cin_store_lease_holder(cin_store *st, const char *name, char **holder, time_t *expires_at)
{
    sqlite3_stmt *s = st_prep(st, "SELECT holder, expires_at FROM leases WHERE name = ?1");
    int rc;

    *holder = NULL;
    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, name);
    rc = st_row(s);
    if (rc == CIN_OK) {
        *holder = st_text(s, 0);
        if (expires_at)
            *expires_at = (time_t)sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return rc;
}

/* ---- durable ACME steps ------------------------------------------------------ */

int cin_store_acme_state_get(cin_store *st, int64_t order_id, char **ca, char **json)
{
    sqlite3_stmt *s = st_prep(st, "SELECT ca, state FROM acme_orders WHERE order_id = ?1");
    int rc;

    *json = NULL;
    if (ca)
        *ca = NULL;
    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, order_id);
    rc = st_row(s);
    if (rc == CIN_OK) {
        if (ca)
            *ca = st_text(s, 0);
        *json = st_text(s, 1);
    }
    sqlite3_finalize(s);
    return rc;
}

int cin_store_acme_state_put(cin_store *st, int64_t order_id, const char *ca, const char *json)
{
    sqlite3_stmt *s;
    char now[21];
    int rc;

    if (!json) {
        s = st_prep(st, "DELETE FROM acme_orders WHERE order_id = ?1");
        if (!s)
            return CIN_ERR;
        sqlite3_bind_int64(s, 1, order_id);
    } else {
        s = st_prep(st, "INSERT INTO acme_orders(order_id, ca, state, updated_at) VALUES"
                        " (?1, ?2, ?3, ?4) ON CONFLICT(order_id) DO UPDATE SET ca = excluded.ca,"
                        " state = excluded.state, updated_at = excluded.updated_at");
        if (!s)
            return CIN_ERR;
        st_now_text(st, now);
        sqlite3_bind_int64(s, 1, order_id);
        st_bind_text(s, 2, ca);
        st_bind_text(s, 3, json);
        st_bind_text(s, 4, now);
    }
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    return rc;
}

/* ---- challenges ------------------------------------------------------------ */

int cin_store_challenge_put(cin_store *st, const char *kind, const char *token, const char *content,
                            int64_t order_id, time_t expires_at)
{
    sqlite3_stmt *s = st_prep(st, "INSERT OR REPLACE INTO challenges(kind, token, content,"
                                  " order_id, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)");
    int rc;

    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, kind);
    st_bind_text(s, 2, token);
    st_bind_text(s, 3, content);
    bind_id(s, 4, order_id);
    sqlite3_bind_int64(s, 5, (int64_t)expires_at);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    return rc;
}

int cin_store_challenge_get(cin_store *st, const char *kind, const char *token, char **content)
{
    sqlite3_stmt *s = st_prep(st, "SELECT content FROM challenges WHERE kind = ?1 AND"
                                  " token = ?2 AND expires_at > ?3");
    int rc;

    *content = NULL;
    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, kind);
    st_bind_text(s, 2, token);
    sqlite3_bind_int64(s, 3, (int64_t)st_now(st));
    rc = st_row(s);
    if (rc == CIN_OK) {
        *content = st_text(s, 0);
    }
    sqlite3_finalize(s);
    return rc;
}

int cin_store_challenge_delete_order(cin_store *st, int64_t order_id)
{
    sqlite3_stmt *s = st_prep(st, "DELETE FROM challenges WHERE order_id = ?1");
    int rc;

    if (!s)
        return CIN_ERR;
    sqlite3_bind_int64(s, 1, order_id);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    return rc;
}
