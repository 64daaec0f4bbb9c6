/*
 * store_failover.c - CA failover (issue 14): a product's ordered CAs and the
 * CA an order is at now, with the attempts it has had there.
 *
 * A product without product_cas rows issues from its one CA (products.ca_id);
 * with rows, products.ca_id is the first of them, so that every reader of the
 * product's CA sees the preferred one.
 */
#include <stdlib.h>
#include <string.h>

#include "cin_store_ca.h"
#include "store_int.h"

#define FAILOVER_DEFAULT 3

int cin_store_product_cas(cin_store *st, const char *product, char ***names, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT c.name FROM product_cas p JOIN cas c ON c.id = p.ca_id"
                                " WHERE p.product = ?1 ORDER BY p.position");
    size_t cap = 4;
    int rc;

    *n = 0;
    *names = calloc(cap, sizeof(**names));
    if (!*names) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    db_bind_text(s, 1, product);
    while ((rc = db_step(s)) == DB_ROW) {
        char **m = st_grow(*names, *n, &cap, sizeof(**names));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *names = m;
        (*names)[(*n)++] = db_col_strdup(s, 0);
    }
    db_finalize(s);
    if (rc == CIN_OK && *n == 0) { /* one CA: the product's own */
        s = db_prepare(st, "SELECT c.name FROM products p JOIN cas c ON c.id = p.ca_id"
                           " WHERE p.code = ?1");
        db_bind_text(s, 1, product);
        rc = db_one(s);
        if (rc == CIN_OK)
            (*names)[(*n)++] = db_col_strdup(s, 0);
        db_finalize(s);
    }
    if (rc != CIN_OK) {
        cin_strv_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

int cin_store_product_set_cas(cin_store *st, const char *product, char **names, size_t n,
                              char **err)
{
    db_stmt *s;
    size_t i, k;
    int rc;

    ST_WRITER(st);
    if (n == 0) {
        cin_seterr(err, "name at least one CA");
        return CIN_EINVAL;
    }
    for (i = 0; i < n; i++)
        for (k = 0; k < i; k++)
            if (!strcmp(names[i], names[k])) {
                cin_seterr(err, "CA %s is named twice", names[i]);
                return CIN_EINVAL;
            }
    /* the first is the product's CA for every reader */
    rc = cin_store_product_set_ca(st, product, names[0], err);
    if (rc != CIN_OK)
        return rc;
    s = db_prepare(st, "DELETE FROM product_cas WHERE product = ?1");
    db_bind_text(s, 1, product);
    rc = db_run(s);
    for (i = 0; rc == CIN_OK && n > 1 && i < n; i++) {
        s = db_prepare(st, "INSERT INTO product_cas(product, position, ca_id)"
                           " SELECT ?1, ?2, id FROM cas WHERE name = ?3");
        db_bind_text(s, 1, product);
        db_bind_int(s, 2, (int64_t)i);
        db_bind_text(s, 3, names[i]);
        rc = db_step(s);
        if (rc == CIN_OK && db_changes(s) != 1) {
            cin_seterr(err, "no CA named %s", names[i]);
            rc = CIN_ENOTFOUND;
        }
        db_finalize(s);
    }
    return rc;
}

int cin_store_order_ca_get(cin_store *st, int64_t order_id, char **ca, int *attempts)
{
    db_stmt *s = db_prepare(st, "SELECT c.name, o.attempts FROM order_cas o JOIN cas c ON"
                                " c.id = o.ca_id WHERE o.order_id = ?1");
    int rc;

    if (ca)
        *ca = NULL;
    *attempts = 0;
    db_bind_int(s, 1, order_id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        if (ca)
            *ca = db_col_strdup(s, 0);
        *attempts = (int)db_col_int(s, 1);
    }
    db_finalize(s);
    return rc;
}

int cin_store_order_ca_set(cin_store *st, int64_t order_id, const char *ca, int attempts)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "INSERT INTO order_cas(order_id, ca_id, attempts)"
                       " SELECT ?1, id, ?3 FROM cas WHERE name = ?2"
                       " ON CONFLICT(order_id) DO UPDATE SET ca_id = excluded.ca_id,"
                       " attempts = excluded.attempts");
    db_bind_int(s, 1, order_id);
    db_bind_text(s, 2, ca);
    db_bind_int(s, 3, attempts);
    return db_run(s);
}

int cin_store_ca_failover_after(cin_store *st, const char *ca)
{
    db_stmt *s = db_prepare(st, "SELECT failover_after FROM cas WHERE name = ?1");
    int n = FAILOVER_DEFAULT;

    db_bind_text(s, 1, ca);
    if (db_one(s) == CIN_OK && !db_col_null(s, 0) && db_col_int(s, 0) > 0)
        n = (int)db_col_int(s, 0);
    db_finalize(s);
    return n;
}
