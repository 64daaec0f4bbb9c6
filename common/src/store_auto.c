/*
 * store_auto.c - the rows behind AutoSSL (an account's automatic-certificate
 * policy, the domains it still has to order for) and behind import (is this
 * certificate already in the store?).
 */
#include <stdlib.h>
#include <string.h>

#include "cin_autossl.h"
#include "store_int.h"

int cin_store_auto_policy_get(cin_store *st, int64_t account_id, char **product, int *www)
{
    db_stmt *s = db_prepare(st, "SELECT auto_product, auto_www FROM accounts WHERE id = ?1");
    int rc;

    *product = NULL;
    *www = 0;
    db_bind_int(s, 1, account_id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        *product = db_col_null(s, 0) ? NULL : db_col_strdup(s, 0);
        *www = (int)db_col_int(s, 1);
    }
    db_finalize(s);
    return rc;
}

int cin_store_auto_policy_set(cin_store *st, int64_t account_id, const char *product, int www)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE accounts SET auto_product = ?2, auto_www = ?3 WHERE id = ?1");
    db_bind_int(s, 1, account_id);
    db_bind_text(s, 2, product);
    db_bind_int(s, 3, www ? 1 : 0);
    return db_run(s);
}

/* An AutoSSL order is open while it may still lead to a certificate, or while
 * its certificate is the one issued (the certificate query covers the rest). */
#define AUTO_OPEN                                                                                  \
    "('pending_approval','pending_signatory','awaiting_payment','pending_csr','processing',"       \
    "'issued')"

int cin_store_auto_due(cin_store *st, time_t now, int limit, cin_name_entry **out, size_t *n)
{
    db_stmt *s = db_prepare(
        st, "SELECT d.name, d.account_id FROM domains d JOIN accounts a ON a.id = d.account_id"
            " WHERE a.auto_product IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM auto_orders x WHERE x.name = d.name AND"
            "  x.account_id = d.account_id AND (x.next_at > ?1 OR EXISTS (SELECT 1 FROM orders o"
            "  WHERE o.id = x.order_id AND o.status IN " AUTO_OPEN ")))"
            /* from the name's few rows to their certificates (CROSS JOIN keeps
             * SQLite's order): started from the active certificates, this
             * scanned all of them for each domain, five times a second */
            " AND NOT EXISTS (SELECT 1 FROM cert_names cn CROSS JOIN certificates c"
            "  WHERE c.id = cn.cert_id AND cn.name = d.name AND c.account_id = d.account_id"
            "  AND c.status = 'active' AND c.not_after_ts > ?1)"
            " ORDER BY d.name LIMIT ?2");
    size_t cap = 16;
    int rc;

    *n = 0;
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    db_bind_int(s, 1, (int64_t)now);
    db_bind_int(s, 2, limit > 0 ? limit : 1000);
    while ((rc = db_step(s)) == DB_ROW) {
        cin_name_entry *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        m[*n].name = db_col_strdup(s, 0);
        m[*n].account_id = db_col_int(s, 1);
        m[*n].cert_id = 0;
        (*n)++;
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_name_entries_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int cin_store_auto_open(cin_store *st, const char *name, int64_t account_id, time_t now)
{
    db_stmt *s =
        db_prepare(st, "SELECT 1 FROM auto_orders x WHERE x.name = ?1 AND"
                       " x.account_id = ?2 AND (x.next_at > ?3 OR EXISTS (SELECT 1"
                       " FROM orders o WHERE o.id = x.order_id AND o.status IN " AUTO_OPEN "))");
    int rc;

    db_bind_text(s, 1, name);
    db_bind_int(s, 2, account_id);
    db_bind_int(s, 3, (int64_t)now);
    rc = db_one(s);
    db_finalize(s);
    return rc == CIN_OK ? 1 : rc == CIN_ENOTFOUND ? 0 : rc;
}

int cin_store_name_covered(cin_store *st, int64_t account_id, const char *name, time_t now)
{
    const char *dot = strchr(name, '.');
    char *wild = dot ? cin_asprintf("*%s", dot) : NULL;
    db_stmt *s = db_prepare(st, "SELECT 1 FROM cert_names cn JOIN certificates c ON"
                                " c.id = cn.cert_id WHERE cn.name IN (?1, ?2) AND"
                                " c.account_id = ?3 AND c.status = 'active' AND"
                                " c.not_after_ts > ?4 LIMIT 1");
    int rc;

    db_bind_text(s, 1, name);
    db_bind_text(s, 2, wild ? wild : name);
    db_bind_int(s, 3, account_id);
    db_bind_int(s, 4, (int64_t)now);
    rc = db_one(s);
    db_finalize(s);
    free(wild);
    return rc == CIN_OK ? 1 : rc == CIN_ENOTFOUND ? 0 : rc;
}

int cin_store_auto_failed(cin_store *st, const char *name, int64_t account_id, int64_t *order_id,
                          int *retries, int *alerted)
{
    db_stmt *s = db_prepare(
        st, "SELECT x.order_id, (SELECT count(*) FROM order_events e WHERE e.order_id = x.order_id"
            " AND e.action = 'autossl.retry'), CASE WHEN x.alert IS NULL THEN 0 ELSE 1 END"
            " FROM auto_orders x JOIN orders o ON o.id = x.order_id"
            " WHERE x.name = ?1 AND x.account_id = ?2 AND o.status = 'failed'");
    int rc;

    db_bind_text(s, 1, name);
    db_bind_int(s, 2, account_id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        *order_id = db_col_int(s, 0);
        *retries = (int)db_col_int(s, 1);
        *alerted = (int)db_col_int(s, 2);
    }
    db_finalize(s);
    return rc;
}

int cin_store_auto_record(cin_store *st, const char *name, int64_t account_id, int64_t order_id,
                          time_t next_at, const char *alert)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "INSERT INTO auto_orders(name, account_id, order_id, next_at, alert)"
                       " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(name, account_id) DO UPDATE"
                       " SET order_id = ?3, next_at = ?4, alert = ?5");
    db_bind_text(s, 1, name);
    db_bind_int(s, 2, account_id);
    db_bind_id(s, 3, order_id);
    db_bind_int(s, 4, (int64_t)next_at);
    db_bind_text(s, 5, alert);
    return db_run(s);
}

int cin_store_auto_alerts(cin_store *st, int64_t account_id, cin_metric_row **out, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT name, alert, next_at FROM auto_orders WHERE"
                                " account_id = ?1 AND alert IS NOT NULL ORDER BY name LIMIT 100");

    db_bind_int(s, 1, account_id);
    return st_label_rows(s, 1, out, n);
}

int cin_store_cert_by_sha256(cin_store *st, int64_t account_id, const char *sha256,
                             int64_t *order_id)
{
    db_stmt *s = db_prepare(st, "SELECT order_id FROM certificates WHERE sha256 = ?1 AND"
                                " account_id = ?2 AND status = 'active' LIMIT 1");
    int rc;

    *order_id = 0;
    db_bind_text(s, 1, sha256);
    db_bind_int(s, 2, account_id);
    rc = db_one(s);
    if (rc == CIN_OK)
        *order_id = db_col_int(s, 0);
    db_finalize(s);
    return rc;
}
