/* store_order.c - orders, events, idempotent replies, keys, certificates, leases, challenges. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_store_order.h"
#include "store_int.h"

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
    free(o->account_path);
    free(o->via);
    free(o->via_name);
    memset(o, 0, sizeof(*o));
}

#define ORDER_COLS                                                                                 \
    "o.id, coalesce(o.order_number, 0), o.account_id, a.name, o.requester_id, u.name, o.status, "  \
    "o.product, o.common_name, o.sans, o.key_source, o.key_type, o.validity_days, o.auto_renew, "  \
    "o.price, o.approved_by, o.approved_at, o.rejection_reason, o.signatory_by, o.signatory_at, "  \
    "coalesce(o.parent_id, 0), o.kind, o.csr_pem, coalesce(o.key_id, 0), coalesce(o.cert_id, 0), " \
    "o.error, o.attempts, o.next_attempt_at, o.admin_approved, o.created_at, o.updated_at, "       \
    "coalesce(o.superseded_by, 0), o.not_after_cap, o.ca_cleanup, a.path, "                        \
    "coalesce((SELECT pa.group_id FROM product_approvers pa WHERE pa.account_id = o.account_id "   \
    "AND pa.product = o.product), 0), o.via, o.via_name "                                          \
    "FROM orders o JOIN accounts a ON a.id = o.account_id JOIN users u ON u.id = o.requester_id "

static void order_fill(db_stmt *s, cin_order *o)
{
    o->id = db_col_int(s, 0);
    o->order_number = db_col_int(s, 1);
    o->account_id = db_col_int(s, 2);
    o->account = db_col_strdup(s, 3);
    o->requester_id = db_col_int(s, 4);
    o->requester = db_col_strdup(s, 5);
    o->status = db_col_strdup(s, 6);
    o->product = db_col_strdup(s, 7);
    o->common_name = db_col_strdup(s, 8);
    st_json_strv(db_col_text(s, 9), &o->sans, &o->nsans);
    o->key_source = db_col_strdup(s, 10);
    o->key_type = db_col_strdup(s, 11);
    o->validity_days = (int)db_col_int(s, 12);
    o->auto_renew = (int)db_col_int(s, 13);
    o->price = db_col_int(s, 14);
    o->approved_by = db_col_strdup(s, 15);
    o->approved_at = db_col_strdup(s, 16);
    o->rejection_reason = db_col_strdup(s, 17);
    o->signatory_by = db_col_strdup(s, 18);
    o->signatory_at = db_col_strdup(s, 19);
    o->parent_id = db_col_int(s, 20);
    o->kind = db_col_strdup(s, 21);
    o->csr_pem = db_col_strdup(s, 22);
    o->key_id = db_col_int(s, 23);
    o->cert_id = db_col_int(s, 24);
    o->error_json = db_col_strdup(s, 25);
    o->attempts = (int)db_col_int(s, 26);
    o->next_attempt_at = (time_t)db_col_int(s, 27);
    o->admin_approved = (int)db_col_int(s, 28);
    o->created_at = db_col_strdup(s, 29);
    o->updated_at = db_col_strdup(s, 30);
    o->superseded_by = db_col_int(s, 31);
    o->not_after_cap = (time_t)db_col_int(s, 32);
    o->ca_cleanup = (int)db_col_int(s, 33);
    o->account_path = db_col_strdup(s, 34);
    o->approver_group = db_col_int(s, 35);
    o->via = db_col_strdup(s, 36);
    o->via_name = db_col_strdup(s, 37);
}

int cin_store_order_insert(cin_store *st, cin_order *o)
{
    db_stmt *s;
    char now[21], *sans;
    int rc;

    sans = st_strv_json(o->sans, o->nsans);
    if (!sans)
        return CIN_ENOMEM;
    s = db_prepare(
        st, "INSERT INTO orders(account_id, requester_id, status, product, common_name, sans,"
            " key_source, key_type, validity_days, auto_renew, price, parent_id, kind,"
            " csr_pem, key_id, admin_approved, approved_by, approved_at, created_at,"
            " updated_at, not_after_cap) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
            " ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?19, ?20) RETURNING id");
    st_now_text(st, now);
    db_bind_int(s, 1, o->account_id);
    db_bind_int(s, 2, o->requester_id);
    db_bind_text(s, 3, o->status);
    db_bind_text(s, 4, o->product);
    db_bind_text(s, 5, o->common_name);
    db_bind_text(s, 6, sans);
    db_bind_text(s, 7, o->key_source ? o->key_source : "server");
    db_bind_text(s, 8, o->key_type ? o->key_type : "ec-p256");
    db_bind_int(s, 9, o->validity_days);
    db_bind_int(s, 10, o->auto_renew);
    db_bind_int(s, 11, o->price);
    db_bind_id(s, 12, o->parent_id);
    db_bind_text(s, 13, o->kind ? o->kind : "new");
    db_bind_text(s, 14, o->csr_pem);
    db_bind_id(s, 15, o->key_id);
    db_bind_int(s, 16, o->admin_approved);
    db_bind_text(s, 17, o->approved_by);
    db_bind_text(s, 18, o->approved_at);
    db_bind_text(s, 19, now);
    db_bind_int(s, 20, (int64_t)o->not_after_cap);
    rc = db_one(s);
    if (rc == CIN_OK)
        o->id = db_col_int(s, 0);
    db_finalize(s);
    free(sans);
    if (rc == CIN_OK) {
        free(o->created_at);
        free(o->updated_at);
        o->created_at = strdup(now);
        o->updated_at = strdup(now);
    }
    return rc;
}

int cin_store_order_update(cin_store *st, cin_order *o)
{
    db_stmt *s;
    char now[21], *sans;
    int rc;

    sans = st_strv_json(o->sans, o->nsans);
    if (!sans)
        return CIN_ENOMEM;
    s = db_prepare(st, "UPDATE orders SET status = ?1, order_number = ?2, approved_by = ?3,"
                       " approved_at = ?4, rejection_reason = ?5, signatory_by = ?6,"
                       " signatory_at = ?7, csr_pem = ?8, key_id = ?9, cert_id = ?10, error = ?11,"
                       " attempts = ?12, next_attempt_at = ?13, price = ?14, sans = ?15,"
                       " common_name = ?16, admin_approved = ?17, auto_renew = ?18, key_type = ?19,"
                       " updated_at = ?20, superseded_by = ?22, not_after_cap = ?23,"
                       " ca_cleanup = ?24 WHERE id = ?21");
    st_now_text(st, now);
    db_bind_text(s, 1, o->status);
    db_bind_id(s, 2, o->order_number);
    db_bind_text(s, 3, o->approved_by);
    db_bind_text(s, 4, o->approved_at);
    db_bind_text(s, 5, o->rejection_reason);
    db_bind_text(s, 6, o->signatory_by);
    db_bind_text(s, 7, o->signatory_at);
    db_bind_text(s, 8, o->csr_pem);
    db_bind_id(s, 9, o->key_id);
    db_bind_id(s, 10, o->cert_id);
    db_bind_text(s, 11, o->error_json);
    db_bind_int(s, 12, o->attempts);
    db_bind_int(s, 13, (int64_t)o->next_attempt_at);
    db_bind_int(s, 14, o->price);
    db_bind_text(s, 15, sans);
    db_bind_text(s, 16, o->common_name);
    db_bind_int(s, 17, o->admin_approved);
    db_bind_int(s, 18, o->auto_renew);
    db_bind_text(s, 19, o->key_type);
    db_bind_text(s, 20, now);
    db_bind_int(s, 21, o->id);
    db_bind_id(s, 22, o->superseded_by);
    db_bind_int(s, 23, (int64_t)o->not_after_cap);
    db_bind_int(s, 24, o->ca_cleanup);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    free(sans);
    if (rc == CIN_OK) {
        free(o->updated_at);
        o->updated_at = strdup(now);
    }
    return rc;
}

int cin_store_order_get(cin_store *st, int64_t id, cin_order *out)
{
    db_stmt *s = db_prepare(st, "SELECT " ORDER_COLS "WHERE o.id = ?1");
    int rc;

    memset(out, 0, sizeof(*out));
    db_bind_int(s, 1, id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        order_fill(s, out);
    }
    db_finalize(s);
    return rc;
}

/* q as a LIKE pattern matching it anywhere, its wildcards escaped with '\'.
 * Lower-cased: names are stored lower-case, and PostgreSQL's LIKE, unlike
 * SQLite's, is case-sensitive. */
static char *like_pattern(const char *q)
{
    size_t i, k = 0, len = strlen(q);
    char *like = malloc(len * 2 + 3);

    if (!like)
        return NULL;
    like[k++] = '%';
    for (i = 0; i < len; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            like[k++] = '\\';
        like[k++] = (char)tolower((unsigned char)q[i]);
    }
    like[k++] = '%';
    like[k] = '\0';
    return like;
}

/* "r-12" / "r-000012" / "12" -> 12 (a request); "cin-7" -> 7 with *num set (an order number). */
static int64_t search_number(const char *q, int *num)
{
    const char *p = q;
    char *end;
    long long v;

    *num = 0;
    if (!strncmp(p, "cin-", 4)) {
        p += 4;
        *num = 1;
    } else if (!strncmp(p, "r-", 2)) {
        p += 2;
    }
    if (*p < '0' || *p > '9')
        return 0;
    v = strtoll(p, &end, 10);
    return *end || v <= 0 ? 0 : (int64_t)v;
}

int cin_store_order_list(cin_store *st, const cin_order_filter *f, cin_order **out, size_t *n)
{
    /* Only the filters in use are in the statement: an optional parameter
     * written as (?3 IS NULL OR ...) leaves PostgreSQL unable to tell its
     * type, and an absent filter costs nothing. */
    char sql[2048], *like = NULL, lower[256];
    size_t cap = 16, len, i;
    db_stmt *s;
    int rc, k = 0, qnum = 0;
    int64_t qid = 0;

    *out = NULL;
    *n = 0;
    if (f->q && *f->q && !(like = like_pattern(f->q)))
        return CIN_ENOMEM;
    if (like) {
        /* the pattern without its two '%', unescaped: the exact user name asked for */
        snprintf(lower, sizeof(lower), "%s", f->q);
        for (i = 0; lower[i]; i++)
            lower[i] = (char)tolower((unsigned char)lower[i]);
        qid = search_number(lower, &qnum);
    }
    len = (size_t)snprintf(sql, sizeof(sql), "SELECT " ORDER_COLS "WHERE 1 = 1");
    if (f->account_id > 0)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND o.account_id = ?%d", ++k);
    if (f->subtree)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND a.path LIKE ?%d", ++k);
    if (f->requester_id > 0)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND o.requester_id = ?%d", ++k);
    if (f->status)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND o.status = ?%d", ++k);
    if (like) {
        /* a name, the requester's user name, or a request / order number (R-12, CIN-7) */
        len += (size_t)snprintf(sql + len, sizeof(sql) - len,
                                " AND (o.sans LIKE ?%d ESCAPE '\\' OR u.name = ?%d", k + 1, k + 2);
        k += 2;
        if (qid > 0) {
            len += (size_t)snprintf(sql + len, sizeof(sql) - len, " OR %s = ?%d",
                                    qnum ? "o.order_number" : "o.id", ++k);
        }
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, ")");
    }
    if (f->before_id > 0 && !f->sort)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND o.id < ?%d", ++k);
    if (f->sort) /* a whitelisted ordering (cin_sort_sql), paged by offset */
        snprintf(sql + len, sizeof(sql) - len, " ORDER BY %s LIMIT ?%d OFFSET %lld", f->sort, ++k,
                 (long long)(f->offset > 0 ? f->offset : 0));
    else
        snprintf(sql + len, sizeof(sql) - len, " ORDER BY o.id DESC LIMIT ?%d", ++k);
    s = db_prepare(st, sql);
    /* bound in the order the clauses were written */
    k = 0;
    if (f->account_id > 0)
        db_bind_int(s, ++k, f->account_id);
    if (f->subtree) {
        /* a path is digits and slashes: nothing to escape */
        char *prefix = cin_asprintf("%s%%", f->subtree);
        if (!prefix) {
            db_finalize(s);
            free(like);
            return CIN_ENOMEM;
        }
        db_bind_text(s, ++k, prefix);
        free(prefix);
    }
    if (f->requester_id > 0)
        db_bind_int(s, ++k, f->requester_id);
    if (f->status)
        db_bind_text(s, ++k, f->status);
    if (like) {
        db_bind_text(s, ++k, like);
        db_bind_text(s, ++k, lower);
        if (qid > 0)
            db_bind_int(s, ++k, qid);
    }
    if (f->before_id > 0 && !f->sort)
        db_bind_int(s, ++k, f->before_id);
    db_bind_int(s, ++k, f->limit > 0 ? f->limit : 50);
    free(like);
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        cin_order *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        order_fill(s, &(*out)[(*n)++]);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_order_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
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
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE counters SET value = value + 1 WHERE name = 'order_number'"
                       " RETURNING value");
    rc = db_one(s);
    if (rc == CIN_OK)
        *out = db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

int cin_store_order_due(cin_store *st, const char *status, time_t now, int64_t **ids, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT id FROM orders WHERE status = ?1 AND "
                                "next_attempt_at <= ?2 ORDER BY id LIMIT 1000");

    db_bind_text(s, 1, status);
    db_bind_int(s, 2, (int64_t)now);
    return db_ids(s, ids, n);
}

int cin_store_order_cleanup_due(cin_store *st, time_t now, int64_t **ids, size_t *n)
{
    /* a range of the index orders_cleanup (ca_cleanup, next_attempt_at) */
    db_stmt *s = db_prepare(st, "SELECT id FROM orders WHERE ca_cleanup = 1 AND"
                                " next_attempt_at <= ?1 ORDER BY id LIMIT 1000");

    db_bind_int(s, 1, (int64_t)now);
    return db_ids(s, ids, n);
}

int cin_store_order_renewal_due(cin_store *st, time_t now, double fraction, int64_t **ids,
                                size_t *n)
{
    /*
     * Due when lifetime_end - now <= fraction * lifetime.  The lifetime is
     * the one renewal timing follows (cin_cert): the certificate's own, or
     * for a reissue the original's, so that a reissue never moves renewal
     * later.  The fraction is bound as an integer in millionths (the
     * statement layer binds no floating point; the setting is 0.05-0.95, so
     * this is exact to a few seconds of a certificate's life), both sides
     * scaled alike and widened to BIGINT.  A row whose lifetime_start is 0
     * (a not_before the migration could not read) falls back to the validity
     * its order asked for, never to "0 = 1970", which would make it due at
     * once.  Issue 14: a certificate with an ARI window follows the time
     * picked in it instead (cert_ari.planned_at; acme_ari.c), and one whose
     * window moved earlier is being replaced by a free reissue already.
     */
    db_stmt *s = db_prepare(
        st, "SELECT o.id FROM orders o JOIN certificates c ON c.id = o.cert_id"
            " LEFT JOIN cert_ari a ON a.cert_id = c.id WHERE"
            " o.status = 'issued' AND o.auto_renew = 1 AND o.next_attempt_at <= ?1 AND"
            " c.status = 'active' AND coalesce(a.moved, 0) = 0 AND"
            " ((coalesce(a.planned_at, 0) > 0 AND a.planned_at <= ?1) OR"
            " (coalesce(a.planned_at, 0) = 0 AND"
            " CAST(c.lifetime_end - ?1 AS BIGINT) * 1000000 <= ?2 *"
            " CAST(CASE WHEN c.lifetime_start > 0 THEN c.lifetime_end - c.lifetime_start"
            " ELSE o.validity_days * 86400 END AS BIGINT))) AND NOT EXISTS (SELECT 1 FROM"
            " orders r WHERE r.parent_id = o.id AND r.kind = 'renewal' AND r.status NOT IN"
            " ('rejected', 'cancelled', 'failed')) ORDER BY o.id LIMIT 100");

    db_bind_int(s, 1, (int64_t)now);
    db_bind_int(s, 2, (int64_t)(fraction * 1000000.0 + 0.5));
    return db_ids(s, ids, n);
}

int cin_store_order_has_renewal(cin_store *st, int64_t parent_id)
{
    db_stmt *s = db_prepare(st, "SELECT 1 FROM orders WHERE parent_id = ?1 AND kind ="
                                " 'renewal' AND status NOT IN ('rejected', 'cancelled',"
                                " 'failed')");
    int rc;

    db_bind_int(s, 1, parent_id);
    rc = db_one(s);
    db_finalize(s);
    if (rc == CIN_OK)
        return 1;
    return rc == CIN_ENOTFOUND ? 0 : rc;
}

int cin_store_order_expired(cin_store *st, time_t now, int64_t **ids, size_t *n)
{
    /* walks the index of active certificates by expiry: cheap at any size */
    db_stmt *s = db_prepare(st, "SELECT o.id FROM certificates c JOIN orders o ON"
                                " o.cert_id = c.id WHERE c.status = 'active' AND"
                                " c.not_after_ts < ?1 AND o.status = 'issued' ORDER BY o.id"
                                " LIMIT 1000");

    db_bind_int(s, 1, (int64_t)now);
    return db_ids(s, ids, n);
}

/* ---- events -------------------------------------------------------------- */

int cin_store_event_add(cin_store *st, int64_t account_id, int64_t order_id, const char *actor,
                        const char *action, const char *peer, const char *detail)
{
    db_stmt *s;
    char now[21];

    s = db_prepare(st, "INSERT INTO order_events(account_id, order_id, actor, action,"
                       " at, peer, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    st_now_text(st, now);
    db_bind_id(s, 1, account_id);
    db_bind_id(s, 2, order_id);
    db_bind_text(s, 3, actor ? actor : "system");
    db_bind_text(s, 4, action);
    db_bind_text(s, 5, now);
    db_bind_text(s, 6, peer);
    db_bind_text(s, 7, detail);
    return db_run(s);
}

/* Runs s (columns as below) into a list of events; s is finalized. */
static int events_collect(db_stmt *s, cin_event **out, size_t *n)
{
    size_t cap = 16;
    int rc;

    *out = NULL;
    *n = 0;
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        cin_event *e, *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        e = &(*out)[(*n)++];
        e->id = db_col_int(s, 0);
        e->account_id = db_col_int(s, 1);
        e->order_id = db_col_int(s, 2);
        e->actor = db_col_strdup(s, 3);
        e->action = db_col_strdup(s, 4);
        e->at = db_col_strdup(s, 5);
        e->peer = db_col_strdup(s, 6);
        e->detail = db_col_strdup(s, 7);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_event_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int cin_store_event_list(cin_store *st, int64_t account_id, int64_t order_id, int64_t before_id,
                         int limit, cin_event **out, size_t *n)
{
    db_stmt *s;

    if (order_id > 0) {
        s = db_prepare(st, "SELECT id, coalesce(account_id, 0), coalesce(order_id, 0), actor,"
                           " action, at, peer, detail FROM order_events WHERE order_id = ?2"
                           " AND (?1 <= 0 OR account_id = ?1) ORDER BY id LIMIT ?3");
        db_bind_int(s, 2, order_id);
    } else {
        s = db_prepare(st, "SELECT id, coalesce(account_id, 0), coalesce(order_id, 0), actor,"
                           " action, at, peer, detail FROM order_events WHERE (?1 <= 0 OR"
                           " account_id = ?1) AND (?2 <= 0 OR id < ?2) ORDER BY id DESC LIMIT ?3");
        db_bind_int(s, 2, before_id);
    }
    db_bind_int(s, 1, account_id);
    db_bind_int(s, 3, limit > 0 ? limit : 1000);
    return events_collect(s, out, n);
}

int cin_store_event_search(cin_store *st, const cin_event_filter *f, cin_event **out, size_t *n)
{
    char sql[1024], since[40], until[40];
    size_t len;
    db_stmt *s;
    int k = 0;

    len = (size_t)snprintf(sql, sizeof(sql),
                           "SELECT id, coalesce(account_id, 0), coalesce(order_id, 0), actor,"
                           " action, at, peer, detail FROM order_events WHERE account_id = ?%d",
                           ++k);
    if (f->before_id > 0)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND id < ?%d", ++k);
    if (f->actor && *f->actor)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND actor = ?%d", ++k);
    if (f->action && *f->action)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND action = ?%d", ++k);
    /* times are RFC 3339 UTC text: a day's bounds compare as text */
    if (f->since && *f->since)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND at >= ?%d", ++k);
    if (f->until && *f->until)
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND at <= ?%d", ++k);
    snprintf(sql + len, sizeof(sql) - len, " ORDER BY id DESC LIMIT ?%d", ++k);
    s = db_prepare(st, sql);
    k = 0;
    db_bind_int(s, ++k, f->account_id);
    if (f->before_id > 0)
        db_bind_int(s, ++k, f->before_id);
    if (f->actor && *f->actor)
        db_bind_text(s, ++k, f->actor);
    if (f->action && *f->action)
        db_bind_text(s, ++k, f->action);
    if (f->since && *f->since) {
        snprintf(since, sizeof(since), "%.10sT00:00:00Z", f->since);
        db_bind_text(s, ++k, since);
    }
    if (f->until && *f->until) {
        snprintf(until, sizeof(until), "%.10sT23:59:59Z", f->until);
        db_bind_text(s, ++k, until);
    }
    db_bind_int(s, ++k, f->limit > 0 ? f->limit : 50);
    return events_collect(s, out, n);
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
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "INSERT INTO idempotency(scope, key, status, body) "
                       "VALUES (?1, ?2, ?3, ?4)");
    db_bind_text(s, 1, scope);
    db_bind_text(s, 2, key);
    db_bind_int(s, 3, status);
    db_bind_text(s, 4, body);
    return db_run(s);
}

int cin_store_idem_get(cin_store *st, const char *scope, const char *key, int *status, char **body)
{
    db_stmt *s =
        db_prepare(st, "SELECT status, body FROM idempotency WHERE scope = ?1 AND key = ?2");
    int rc;

    db_bind_text(s, 1, scope);
    db_bind_text(s, 2, key);
    rc = db_one(s);
    if (rc == CIN_OK) {
        *status = (int)db_col_int(s, 0);
        *body = db_col_strdup(s, 1);
    }
    db_finalize(s);
    return rc;
}

/* ---- private keys ------------------------------------------------------ */

int cin_store_key_put(cin_store *st, const char *key_type, const char *pem, int64_t *id)
{
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    char now[21], label[CIN_KEY_LABEL_MAX];
    int64_t kid = 0;
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    /* The label binds the blob to its row id, so that a blob copied elsewhere
     * won't open: the row is inserted first (its id from the database, safe
     * with concurrent writers on any engine), the sealed key written into it
     * second, both in the caller's transaction. */
    s = db_prepare(st, "INSERT INTO private_keys(key_type, sealed, created_at) "
                       "VALUES (?1, ?2, ?3) RETURNING id");
    st_now_text(st, now);
    db_bind_text(s, 1, key_type);
    db_bind_blob(s, 2, "", 0); /* not yet sealed: the column is NOT NULL */
    db_bind_text(s, 3, now);
    rc = db_one(s);
    if (rc == CIN_OK)
        kid = db_col_int(s, 0);
    db_finalize(s);
    if (rc != CIN_OK)
        return rc;
    cin_key_label(label, kid);
    rc = cin_store_seal(st, label, (const unsigned char *)pem, strlen(pem), &blob, &bloblen);
    if (rc != CIN_OK)
        return rc;
    s = db_prepare(st, "UPDATE private_keys SET sealed = ?1 WHERE id = ?2");
    db_bind_blob(s, 1, blob, bloblen);
    db_bind_int(s, 2, kid);
    rc = db_run(s);
    free(blob);
    if (rc == CIN_OK && id)
        *id = kid;
    return rc;
}

int cin_store_key_get(cin_store *st, int64_t id, char **pem)
{
    db_stmt *s = db_prepare(st, "SELECT sealed FROM private_keys WHERE id = ?1");
    unsigned char *blob, *pt = NULL;
    size_t bloblen = 0, ptlen = 0;
    char label[CIN_KEY_LABEL_MAX];
    int rc;

    *pem = NULL;
    db_bind_int(s, 1, id);
    rc = db_one(s);
    if (rc != CIN_OK) {
        db_finalize(s);
        return rc;
    }
    blob = db_col_blob(s, 0, &bloblen);
    db_finalize(s);
    cin_key_label(label, id);
    /* an empty blob (NULL) fails the integrity check like a tampered one */
    rc = cin_store_unseal(st, label, blob, bloblen, &pt, &ptlen);
    free(blob);
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
    db_stmt *s;
    uint64_t gen = 0;
    time_t na = 0, nb = 0;
    char *names;
    size_t i;
    int rc;

    ST_WRITER(st);
    rc = cin_store_generation_bump(st, &gen);
    if (rc != CIN_OK)
        return rc;
    if (cin_time_parse(c->not_after, &na) != CIN_OK)
        return CIN_EINVAL;
    /* not_before_ts is what renewal measures a lifetime from; 0 when the text
     * cannot be read (cin_store_order_renewal_due has a fallback for it) */
    if (cin_time_parse(c->not_before, &nb) != CIN_OK || nb < 0)
        nb = 0;
    names = st_strv_json(c->names, c->nnames);
    if (!names)
        return CIN_ENOMEM;
    /* the lifetime renewal follows: given (a reissue's), or its own */
    if (!c->lifetime_end) {
        c->lifetime_start = nb;
        c->lifetime_end = na;
    }
    s = db_prepare(st, "INSERT INTO certificates(order_id, account_id, serial, names, not_before,"
                       " not_after, not_after_ts, sha256, issuer, chain_pem, key_id, status,"
                       " changed_gen, not_before_ts, lifetime_start, lifetime_end) VALUES (?1,"
                       " ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'active', ?12, ?13, ?14, ?15)"
                       " RETURNING id");
    db_bind_int(s, 1, c->order_id);
    db_bind_int(s, 2, c->account_id);
    db_bind_text(s, 3, c->serial);
    db_bind_text(s, 4, names);
    db_bind_text(s, 5, c->not_before);
    db_bind_text(s, 6, c->not_after);
    db_bind_int(s, 7, (int64_t)na);
    db_bind_text(s, 8, c->sha256);
    db_bind_text(s, 9, c->issuer);
    db_bind_text(s, 10, c->chain_pem);
    db_bind_id(s, 11, c->key_id);
    db_bind_int(s, 12, (int64_t)gen);
    db_bind_int(s, 13, (int64_t)nb);
    db_bind_int(s, 14, (int64_t)c->lifetime_start);
    db_bind_int(s, 15, (int64_t)c->lifetime_end);
    rc = db_one(s);
    if (rc == CIN_OK)
        c->id = db_col_int(s, 0);
    db_finalize(s);
    free(names);
    if (rc != CIN_OK)
        return rc;
    free(c->status);
    c->status = strdup("active");
    for (i = 0; rc == CIN_OK && i < c->nnames; i++) {
        s = db_prepare(st, "INSERT INTO cert_names(name, cert_id) VALUES (?1, ?2)"
                           " ON CONFLICT DO NOTHING");
        db_bind_text(s, 1, c->names[i]);
        db_bind_int(s, 2, c->id);
        rc = db_run(s);
    }
    return rc;
}

#define CERT_COLS                                                                                  \
    "id, order_id, account_id, serial, names, not_before, not_after, sha256, issuer, chain_pem, "  \
    "coalesce(key_id, 0), status, revocation_reason, ca_notified, lifetime_start, lifetime_end "   \
    "FROM certificates "

static void cert_fill(db_stmt *s, cin_cert *c)
{
    c->id = db_col_int(s, 0);
    c->order_id = db_col_int(s, 1);
    c->account_id = db_col_int(s, 2);
    c->serial = db_col_strdup(s, 3);
    st_json_strv(db_col_text(s, 4), &c->names, &c->nnames);
    c->not_before = db_col_strdup(s, 5);
    c->not_after = db_col_strdup(s, 6);
    c->sha256 = db_col_strdup(s, 7);
    c->issuer = db_col_strdup(s, 8);
    c->chain_pem = db_col_strdup(s, 9);
    c->key_id = db_col_int(s, 10);
    c->status = db_col_strdup(s, 11);
    c->revocation_reason = db_col_strdup(s, 12);
    c->ca_notified = (int)db_col_int(s, 13);
    c->lifetime_start = (time_t)db_col_int(s, 14);
    c->lifetime_end = (time_t)db_col_int(s, 15);
}

int cin_store_cert_get(cin_store *st, int64_t id, cin_cert *out)
{
    db_stmt *s = db_prepare(st, "SELECT " CERT_COLS "WHERE id = ?1");
    int rc;

    memset(out, 0, sizeof(*out));
    db_bind_int(s, 1, id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        cert_fill(s, out);
    }
    db_finalize(s);
    return rc;
}

int cin_store_cert_set_status(cin_store *st, int64_t id, const char *status, const char *reason)
{
    db_stmt *s;
    uint64_t gen = 0;
    int rc;

    ST_WRITER(st);
    rc = cin_store_generation_bump(st, &gen);
    if (rc != CIN_OK)
        return rc;
    s = db_prepare(st, "UPDATE certificates SET status = ?1, revocation_reason = ?2,"
                       " changed_gen = ?3 WHERE id = ?4");
    db_bind_text(s, 1, status);
    db_bind_text(s, 2, reason);
    db_bind_int(s, 3, (int64_t)gen);
    db_bind_int(s, 4, id);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    return rc;
}

int cin_store_cert_mark_notified(cin_store *st, int64_t id, int done)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE certificates SET ca_notified = ?2 WHERE id = ?1");
    db_bind_int(s, 1, id);
    db_bind_int(s, 2, done);
    return db_run(s);
}

int cin_store_cert_revoke_later(cin_store *st, int64_t id, time_t when)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE certificates SET revoke_next_at = ?2 WHERE id = ?1");
    db_bind_int(s, 1, id);
    db_bind_int(s, 2, (int64_t)when);
    return db_run(s);
}

int cin_store_cert_unnotified(cin_store *st, time_t now, int64_t **ids, size_t *n)
{
    /* revoked ones, and superseded ones the CA is to revoke (a reissue's) */
    db_stmt *s = db_prepare(st, "SELECT id FROM certificates WHERE ca_notified = 0 AND"
                                " status IN ('revoked', 'superseded') AND"
                                " revocation_reason IS NOT NULL AND revoke_next_at <= ?1"
                                " ORDER BY id LIMIT 1000");

    db_bind_int(s, 1, (int64_t)now);
    return db_ids(s, ids, n);
}

int cin_store_cert_list(cin_store *st, int64_t account_id, int64_t requester_id, time_t before,
                        cin_cert **out, size_t *n)
{
    return cin_store_cert_page(st, account_id, requester_id, before, "not_after_ts, id", 10000, 0,
                               out, n);
}

int cin_store_cert_page(cin_store *st, int64_t account_id, int64_t requester_id, time_t before,
                        const char *order, int limit, int64_t offset, cin_cert **out, size_t *n)
{
    char sql[1024];
    db_stmt *s;
    size_t cap = 16;
    int rc;

    /* order comes from cin_sort_sql's whitelist, never from a caller's text */
    snprintf(sql, sizeof(sql),
             "SELECT " CERT_COLS "WHERE status = 'active' AND (?1 <= 0 OR account_id = ?1) AND"
             " (?2 <= 0 OR order_id IN (SELECT id FROM orders WHERE requester_id = ?2)) AND"
             " (?3 <= 0 OR not_after_ts < ?3) ORDER BY %s LIMIT ?4 OFFSET ?5",
             order);
    s = db_prepare(st, sql);
    *out = NULL;
    *n = 0;
    db_bind_int(s, 1, account_id);
    db_bind_int(s, 2, requester_id);
    db_bind_int(s, 3, (int64_t)before);
    db_bind_int(s, 4, limit);
    db_bind_int(s, 5, offset > 0 ? offset : 0);
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        cin_cert *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        cert_fill(s, &(*out)[(*n)++]);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_cert_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
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
     * certificate of each account that now carries it (a single row with 0
     * when none does any more) */
    db_stmt *s;
    size_t cap = 64;
    int rc;

    *out = NULL;
    *n = 0;
    /* read the generation and the rows in one read transaction (a consistent
     * snapshot); where a transaction sees each statement's own snapshot
     * (PostgreSQL's READ COMMITTED) reading the generation first still errs
     * on the safe side: rows newer than it are read again next time */
    rc = db_exec(st, "BEGIN");
    if (rc != CIN_OK)
        return rc;
    rc = cin_store_generation(st, generation);
    if (rc != CIN_OK)
        goto done;
    /* Names touched after `since` (found through the changed_gen index), then
     * every certificate carrying each of them (the name index): linear in
     * the names changed, whatever the store's size. */
    s = db_prepare(st, "SELECT n.name, max(CASE WHEN c.status = 'active' THEN c.id ELSE 0 END),"
                       " c.account_id FROM cert_names n JOIN certificates c ON c.id = n.cert_id"
                       " WHERE n.name IN (SELECT n3.name FROM cert_names n3 JOIN certificates c3"
                       " ON c3.id = n3.cert_id WHERE c3.changed_gen > ?1)"
                       " GROUP BY n.name, c.account_id ORDER BY n.name");
    db_bind_int(s, 1, (int64_t)since);
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        rc = CIN_ENOMEM;
        goto done;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        cin_name_entry *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        (*out)[*n].name = db_col_strdup(s, 0);
        (*out)[*n].cert_id = db_col_int(s, 1);
        (*out)[*n].account_id = db_col_int(s, 2);
        (*n)++;
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_name_entries_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
done:
    db_exec(st, "COMMIT");
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
    db_stmt *s;
    time_t now = st_now(st);
    int rc, own_tx = !st->in_tx;

    if (own_tx && (rc = cin_store_begin(st)) != CIN_OK)
        return rc;
    /* insert, or take over when it is ours or has expired; otherwise no change */
    s = db_prepare(st, "INSERT INTO leases(name, holder, expires_at) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder,"
                       " expires_at = excluded.expires_at"
                       " WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4");
    db_bind_text(s, 1, name);
    db_bind_text(s, 2, holder);
    db_bind_int(s, 3, (int64_t)now + ttl);
    db_bind_int(s, 4, (int64_t)now);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ECONFLICT;
    db_finalize(s);
    if (own_tx) {
        rc = cin_store_end(st, rc);
    }
    return rc;
}

int cin_store_lease_release(cin_store *st, const char *name, const char *holder)
{
    db_stmt *s = db_prepare(st, "DELETE FROM leases WHERE name = ?1 AND holder = ?2");

    db_bind_text(s, 1, name);
    db_bind_text(s, 2, holder);
    return db_run(s);
}

int cin_store_lease_holder(cin_store *st, const char *name, char **holder, time_t *expires_at)
{
    db_stmt *s = db_prepare(st, "SELECT holder, expires_at FROM leases WHERE name = ?1");
    int rc;

    *holder = NULL;
    db_bind_text(s, 1, name);
    rc = db_one(s);
    if (rc == CIN_OK) {
        *holder = db_col_strdup(s, 0);
        if (expires_at)
            *expires_at = (time_t)db_col_int(s, 1);
    }
    db_finalize(s);
    return rc;
}

/* ---- durable ACME steps ------------------------------------------------------ */

int cin_store_acme_state_get(cin_store *st, int64_t order_id, char **ca, char **json)
{
    db_stmt *s = db_prepare(st, "SELECT ca, state FROM acme_orders WHERE order_id = ?1");
    int rc;

    *json = NULL;
    if (ca)
        *ca = NULL;
    db_bind_int(s, 1, order_id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        if (ca)
            *ca = db_col_strdup(s, 0);
        *json = db_col_strdup(s, 1);
    }
    db_finalize(s);
    return rc;
}

int cin_store_acme_state_put(cin_store *st, int64_t order_id, const char *ca, const char *json)
{
    db_stmt *s;
    char now[21];

    ST_WRITER(st);
    if (!json) {
        s = db_prepare(st, "DELETE FROM acme_orders WHERE order_id = ?1");
        db_bind_int(s, 1, order_id);
    } else {
        s = db_prepare(st, "INSERT INTO acme_orders(order_id, ca, state, updated_at) VALUES"
                           " (?1, ?2, ?3, ?4) ON CONFLICT(order_id) DO UPDATE SET ca = excluded.ca,"
                           " state = excluded.state, updated_at = excluded.updated_at");
        st_now_text(st, now);
        db_bind_int(s, 1, order_id);
        db_bind_text(s, 2, ca);
        db_bind_text(s, 3, json);
        db_bind_text(s, 4, now);
    }
    return db_run(s);
}

/* ---- challenges ------------------------------------------------------------ */

int cin_store_challenge_put(cin_store *st, const char *kind, const char *token, const char *content,
                            int64_t order_id, time_t expires_at)
{
    db_stmt *s;
    int rc, own_tx = !st->in_tx;

    if (own_tx && (rc = cin_store_begin(st)) != CIN_OK)
        return rc;
    s = db_prepare(st, "INSERT INTO challenges(kind, token, content, order_id, expires_at)"
                       " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(kind, token) DO UPDATE SET"
                       " content = excluded.content, order_id = excluded.order_id,"
                       " expires_at = excluded.expires_at");
    db_bind_text(s, 1, kind);
    db_bind_text(s, 2, token);
    db_bind_text(s, 3, content);
    db_bind_id(s, 4, order_id);
    db_bind_int(s, 5, (int64_t)expires_at);
    rc = db_run(s);
    /* every host's mirror answers it: a new generation wakes their syncers,
     * and tells (hosts.synced_gen) when each of them can answer it */
    if (rc == CIN_OK)
        rc = cin_store_generation_bump(st, NULL);
    return own_tx ? cin_store_end(st, rc) : rc;
}

int cin_store_challenge_get(cin_store *st, const char *kind, const char *token, char **content)
{
    db_stmt *s = db_prepare(st, "SELECT content FROM challenges WHERE kind = ?1 AND"
                                " token = ?2 AND expires_at > ?3");
    int rc;

    *content = NULL;
    db_bind_text(s, 1, kind);
    db_bind_text(s, 2, token);
    db_bind_int(s, 3, (int64_t)st_now(st));
    rc = db_one(s);
    if (rc == CIN_OK) {
        *content = db_col_strdup(s, 0);
    }
    db_finalize(s);
    return rc;
}

int cin_store_challenge_list_order(cin_store *st, const char *kind, int64_t order_id, char ***out,
                                   size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT content FROM challenges WHERE kind = ?1 AND"
                                " order_id = ?2 ORDER BY token");
    size_t cap = 4;
    int rc;

    *n = 0;
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    db_bind_text(s, 1, kind);
    db_bind_int(s, 2, order_id);
    while ((rc = db_step(s)) == DB_ROW) {
        char **m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        (*out)[(*n)++] = db_col_strdup(s, 0);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        while (*n > 0)
            free((*out)[--*n]);
        free(*out);
        *out = NULL;
    }
    return rc;
}

int cin_store_challenge_delete_order(cin_store *st, int64_t order_id)
{
    db_stmt *s;
    int64_t n = 0;
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "DELETE FROM challenges WHERE order_id = ?1");
    db_bind_int(s, 1, order_id);
    rc = db_step(s);
    if (rc == CIN_OK)
        n = db_changes(s);
    db_finalize(s);
    if (rc == CIN_OK && n > 0)
        rc = cin_store_generation_bump(st, NULL);
    return rc;
}

/* ---- issue 15: server-side sorting ------------------------------------------- */

const char *const cin_order_sort_cols[][2] = {
    {"id", "o.id"},
    {"created", "o.id"},
    {"order_number", "o.order_number"},
    {"status", "o.status"},
    {"common_name", "o.common_name"},
    {"product", "o.product"},
    {"requester", "u.name"},
    {"account", "a.name"},
    {"price", "o.price"},
    {"expires", "(SELECT c.not_after_ts FROM certificates c WHERE c.id = o.cert_id)"},
    {NULL, NULL}};

const char *const cin_cert_sort_cols[][2] = {{"not_after", "not_after_ts"},
                                             {"common_name", "names"},
                                             {"not_before", "not_before_ts"},
                                             {"order", "order_id"},
                                             {"serial", "serial"},
                                             {"issuer", "issuer"},
                                             {NULL, NULL}};

int cin_sort_sql(const char *key, const char *const (*cols)[2], const char *tiebreak, char *out,
                 size_t outlen)
{
    int desc = key && key[0] == '-';
    const char *name = key ? key + desc : NULL;
    size_t i;

    for (i = 0; name && *name && cols[i][0]; i++)
        if (!strcmp(cols[i][0], name)) {
            /* NULLs (no order number, no certificate) last either way, on both engines */
            snprintf(out, outlen, "CASE WHEN %s IS NULL THEN 1 ELSE 0 END, %s %s, %s %s",
                     cols[i][1], cols[i][1], desc ? "DESC" : "ASC", tiebreak,
                     desc ? "DESC" : "ASC");
            return 0;
        }
    return -1;
}
