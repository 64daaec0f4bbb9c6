/* store_metrics.c - the store's side of GET <mount>metrics (cin_store_metrics.h). */
#include <stdlib.h>
#include <string.h>

#include "cin_store_metrics.h"
#include "cin_util.h"
#include "store_int.h"

void cin_metric_rows_free(cin_metric_row *r, size_t n)
{
    size_t i;

    for (i = 0; r && i < n; i++) {
        free(r[i].a);
        free(r[i].b);
    }
    free(r);
}

int st_label_rows(db_stmt *s, int two, cin_metric_row **out, size_t *n)
{
    size_t cap = 8;
    int rc;

    *n = 0;
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        cin_metric_row *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        m[*n].a = db_col_strdup(s, 0);
        m[*n].b = two ? db_col_strdup(s, 1) : NULL;
        m[*n].n = db_col_int(s, two ? 2 : 1);
        (*n)++;
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_metric_rows_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int cin_store_metrics_orders(cin_store *st, int64_t account_id, cin_metric_row **out, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT status, count(*) FROM orders WHERE ?1 = 0 OR"
                                " account_id = ?1 GROUP BY status ORDER BY status");

    db_bind_int(s, 1, account_id);
    return st_label_rows(s, 0, out, n);
}

int cin_store_metrics_backlog(cin_store *st, int64_t account_id, cin_metric_row **out, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT kind, count(*) FROM outbox WHERE state = 'queued' AND"
                                " (?1 = 0 OR account_id = ?1) GROUP BY kind ORDER BY kind");

    db_bind_int(s, 1, account_id);
    return st_label_rows(s, 0, out, n);
}

int cin_store_metrics_agent_errors(cin_store *st, int64_t account_id, cin_metric_row **out,
                                   size_t *n)
{
    db_stmt *s = db_prepare(
        st, "SELECT c.name, CASE WHEN o.status = 'failed' THEN 'failed' ELSE 'retrying' END,"
            " count(*) FROM orders o JOIN products p ON p.code = o.product"
            " JOIN cas c ON c.id = p.ca_id WHERE o.error IS NOT NULL"
            " AND o.status IN ('processing', 'failed') AND (?1 = 0 OR o.account_id = ?1)"
            " GROUP BY c.name, CASE WHEN o.status = 'failed' THEN 'failed' ELSE 'retrying' END"
            " ORDER BY c.name");

    db_bind_int(s, 1, account_id);
    return st_label_rows(s, 1, out, n);
}

int cin_store_metrics_expiry(cin_store *st, int64_t account_id, time_t now, const int *days,
                             size_t ndays, int64_t *out)
{
    size_t i;
    int rc = CIN_OK;

    /* one indexed count per bound (certs_status covers status, not_after_ts) */
    for (i = 0; rc == CIN_OK && i <= ndays; i++) {
        db_stmt *s = db_prepare(st, "SELECT count(*) FROM certificates WHERE status = 'active'"
                                    " AND (?1 = 0 OR account_id = ?1) AND (?3 = 1 OR"
                                    " not_after_ts <= ?2)");
        db_bind_int(s, 1, account_id);
        db_bind_int(s, 2, i < ndays ? (int64_t)now + (int64_t)days[i] * 86400 : 0);
        db_bind_int(s, 3, i < ndays ? 0 : 1);
        rc = db_one(s);
        if (rc == CIN_OK)
            out[i] = db_col_int(s, 0);
        db_finalize(s);
    }
    return rc;
}

int cin_store_order_paid_at(cin_store *st, int64_t order_id, time_t *at)
{
    db_stmt *s = db_prepare(st, "SELECT at FROM ledger WHERE order_id = ?1 AND delta < 0"
                                " ORDER BY id DESC LIMIT 1");
    int rc;

    *at = 0;
    db_bind_int(s, 1, order_id);
    rc = db_one(s);
    if (rc == CIN_OK && cin_time_parse(db_col_text(s, 0), at) != CIN_OK)
        rc = CIN_EINVAL;
    db_finalize(s);
    return rc;
}
