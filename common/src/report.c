/*
 * report.c - orders and certificates reports and the sales summary
 * (cin_report.h).  One query each, bounded; totals are counted here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_groups.h"
#include "cin_report.h"
#include "cin_util.h"
#include "db.h"
#include "store_int.h"

#define REPORT_MAX_ROWS 100000

/* The WHERE clauses a filter needs, numbered from ?1; binds in the same order. */
static size_t filter_sql(const cin_report_filter *f, char *sql, size_t cap, const char *time_col)
{
    size_t len = 0;
    int k = 0;

    len += (size_t)snprintf(sql + len, cap - len, " a.path LIKE ?%d", ++k);
    if (f->account_id > 0)
        len += (size_t)snprintf(sql + len, cap - len, " AND a.id = ?%d", ++k);
    if (f->requester_id > 0)
        len += (size_t)snprintf(sql + len, cap - len, " AND o.requester_id = ?%d", ++k);
    if (f->product)
        len += (size_t)snprintf(sql + len, cap - len, " AND o.product = ?%d", ++k);
    if (f->status)
        len += (size_t)snprintf(sql + len, cap - len, " AND o.status = ?%d", ++k);
    if (f->from)
        len += (size_t)snprintf(sql + len, cap - len, " AND %s >= ?%d", time_col, ++k);
    if (f->to)
        len += (size_t)snprintf(sql + len, cap - len, " AND %s < ?%d", time_col, ++k);
    if (f->group)
        len += (size_t)snprintf(sql + len, cap - len,
                                " AND EXISTS (SELECT 1 FROM group_members m JOIN user_groups g ON"
                                " g.id = m.group_id WHERE m.user_id = o.requester_id AND"
                                " g.account_id = o.account_id AND g.name = ?%d)",
                                ++k);
    if (f->field && f->field_value) {
        len += (size_t)snprintf(sql + len, cap - len,
                                " AND EXISTS (SELECT 1 FROM order_fields f WHERE f.order_id ="
                                " o.id AND f.name = ?%d AND f.value = ?%d)",
                                k + 1, k + 2);
        k += 2;
    }
    return len;
}

static int filter_bind(db_stmt *s, const cin_report_filter *f)
{
    char *prefix = cin_asprintf("%s%%", f->subtree ? f->subtree : "/");
    int k = 0;

    if (!prefix)
        return CIN_ENOMEM;
    db_bind_text(s, ++k, prefix);
    free(prefix);
    if (f->account_id > 0)
        db_bind_int(s, ++k, f->account_id);
    if (f->requester_id > 0)
        db_bind_int(s, ++k, f->requester_id);
    if (f->product)
        db_bind_text(s, ++k, f->product);
    if (f->status)
        db_bind_text(s, ++k, f->status);
    if (f->from)
        db_bind_text(s, ++k, f->from);
    if (f->to)
        db_bind_text(s, ++k, f->to);
    if (f->group)
        db_bind_text(s, ++k, f->group);
    if (f->field && f->field_value) {
        db_bind_text(s, ++k, f->field);
        db_bind_text(s, ++k, f->field_value);
    }
    return CIN_OK;
}

/* Add one row's count and credits to the totals of its account. */
static void tally(json_t *by_account, const char *account, json_int_t credits)
{
    json_t *t = json_object_get(by_account, account);

    if (!t) {
        t = json_pack("{s:s, s:I, s:I}", "account", account, "count", (json_int_t)0,
                      "credits_spent", (json_int_t)0);
        json_object_set_new(by_account, account, t);
    }
    json_object_set_new(t, "count",
                        json_integer(json_integer_value(json_object_get(t, "count")) + 1));
    json_object_set_new(
        t, "credits_spent",
        json_integer(json_integer_value(json_object_get(t, "credits_spent")) + credits));
}

static json_t *totals_of(json_t *by_account, const char *count_name, json_int_t n,
                         json_int_t credits, int with_credits)
{
    json_t *t = json_object(), *arr = json_array(), *v;
    const char *k;

    json_object_set_new(t, count_name, json_integer(n));
    if (with_credits)
        json_object_set_new(t, "credits_spent", json_integer(credits));
    json_object_foreach(by_account, k, v)
    {
        json_t *row = json_object();
        json_object_set_new(row, "account", json_string(k));
        json_object_set(row, count_name, json_object_get(v, "count"));
        if (with_credits)
            json_object_set(row, "credits_spent", json_object_get(v, "credits_spent"));
        json_array_append_new(arr, row);
    }
    json_object_set_new(t, "by_account", arr);
    return t;
}

int cin_report_orders(cin_store *st, const cin_report_filter *f, json_t **out)
{
    char sql[2048];
    size_t len;
    db_stmt *s;
    json_t *rows = json_array(), *by = json_object();
    json_int_t n = 0, spent_all = 0;
    int rc;

    len = (size_t)snprintf(
        sql, sizeof(sql),
        "SELECT o.id, coalesce(o.order_number, 0), a.name, u.name, o.product, o.status,"
        " o.common_name, o.price, o.created_at, coalesce((SELECT sum(l.delta) FROM ledger l"
        " WHERE l.order_id = o.id), 0) FROM orders o JOIN accounts a ON a.id = o.account_id"
        " JOIN users u ON u.id = o.requester_id WHERE");
    len += filter_sql(f, sql + len, sizeof(sql) - len, "o.created_at");
    snprintf(sql + len, sizeof(sql) - len, " ORDER BY o.id LIMIT %d", REPORT_MAX_ROWS);
    s = db_prepare(st, sql);
    /* each row leaves rc CIN_OK again; the last step leaves it CIN_OK or the error */
    for (rc = filter_bind(s, f); rc == CIN_OK && (rc = db_step(s)) == DB_ROW; rc = CIN_OK) {
        char id[32], num[32];
        json_int_t spent = -(json_int_t)db_col_int(s, 9);
        const char *account = db_col_text(s, 2);
        json_t *r = json_object();
        snprintf(id, sizeof(id), "R-%06lld", (long long)db_col_int(s, 0));
        json_object_set_new(r, "id", json_string(id));
        if (db_col_int(s, 1)) {
            snprintf(num, sizeof(num), "CIN-%06lld", (long long)db_col_int(s, 1));
            json_object_set_new(r, "order_number", json_string(num));
        } else {
            json_object_set_new(r, "order_number", json_null());
        }
        json_object_set_new(r, "account", json_string(account));
        json_object_set_new(r, "requester", json_string(db_col_text(s, 3)));
        json_object_set_new(r, "product", json_string(db_col_text(s, 4)));
        json_object_set_new(r, "status", json_string(db_col_text(s, 5)));
        json_object_set_new(r, "common_name", json_string(db_col_text(s, 6)));
        json_object_set_new(r, "price", json_integer(db_col_int(s, 7)));
        json_object_set_new(r, "credits_spent", json_integer(spent));
        json_object_set_new(r, "created_at", json_string(db_col_text(s, 8)));
        json_array_append_new(rows, r);
        tally(by, account, spent);
        n++;
        spent_all += spent;
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        json_decref(rows);
        json_decref(by);
        return rc;
    }
    /* each order's custom fields, as an object and as one CSV cell */
    for (size_t i = 0; rc == CIN_OK && i < json_array_size(rows); i++) {
        json_t *r = json_array_get(rows, i), *fields = NULL, *v;
        const char *k, *id = json_string_value(json_object_get(r, "id"));
        char text[1024];
        size_t tl = 0;
        rc = cin_store_order_fields(st, atoll(id + 2), &fields);
        if (rc != CIN_OK)
            break;
        text[0] = '\0';
        json_object_foreach(fields, k, v)
        {
            tl += (size_t)snprintf(text + tl, tl < sizeof(text) ? sizeof(text) - tl : 0, "%s%s=%s",
                                   tl ? "; " : "", k, json_string_value(v));
        }
        json_object_set_new(r, "fields", fields);
        json_object_set_new(r, "fields_text", json_string(text));
    }
    if (rc != CIN_OK) {
        json_decref(rows);
        json_decref(by);
        return rc;
    }
    *out = json_object();
    json_object_set_new(*out, "orders", rows);
    json_object_set_new(*out, "totals", totals_of(by, "orders", n, spent_all, 1));
    json_decref(by);
    return CIN_OK;
}

int cin_report_certificates(cin_store *st, const cin_report_filter *f, json_t **out)
{
    char sql[2048];
    size_t len;
    db_stmt *s;
    json_t *rows = json_array(), *by = json_object();
    json_int_t n = 0;
    int rc;

    len = (size_t)snprintf(
        sql, sizeof(sql),
        "SELECT c.order_id, a.name, o.product, o.common_name, c.names, c.serial, c.not_before,"
        " c.not_after, c.status, c.issuer, c.sha256 FROM certificates c JOIN orders o ON"
        " o.id = c.order_id JOIN accounts a ON a.id = c.account_id WHERE");
    len += filter_sql(f, sql + len, sizeof(sql) - len, "c.not_after");
    snprintf(sql + len, sizeof(sql) - len, " ORDER BY c.id LIMIT %d", REPORT_MAX_ROWS);
    s = db_prepare(st, sql);
    /* each row leaves rc CIN_OK again; the last step leaves it CIN_OK or the error */
    for (rc = filter_bind(s, f); rc == CIN_OK && (rc = db_step(s)) == DB_ROW; rc = CIN_OK) {
        char id[32], **names = NULL, *joined;
        size_t nn = 0, i, jl = 0;
        const char *account = db_col_text(s, 1);
        json_t *r = json_object();
        snprintf(id, sizeof(id), "R-%06lld", (long long)db_col_int(s, 0));
        st_json_strv(db_col_text(s, 4), &names, &nn);
        joined = calloc(1, 4096);
        for (i = 0; joined && i < nn; i++)
            jl += (size_t)snprintf(joined + jl, jl < 4096 ? 4096 - jl : 0, "%s%s", i ? " " : "",
                                   names[i]);
        cin_strv_free(names, nn);
        json_object_set_new(r, "order", json_string(id));
        json_object_set_new(r, "account", json_string(account));
        json_object_set_new(r, "product", json_string(db_col_text(s, 2)));
        json_object_set_new(r, "common_name", json_string(db_col_text(s, 3)));
        json_object_set_new(r, "names", json_string(joined ? joined : ""));
        json_object_set_new(r, "serial", json_string(db_col_text(s, 5)));
        json_object_set_new(r, "not_before", json_string(db_col_text(s, 6)));
        json_object_set_new(r, "not_after", json_string(db_col_text(s, 7)));
        json_object_set_new(r, "status", json_string(db_col_text(s, 8)));
        json_object_set_new(r, "issuer", json_string(db_col_text(s, 9)));
        json_object_set_new(r, "sha256", json_string(db_col_text(s, 10)));
        free(joined);
        json_array_append_new(rows, r);
        tally(by, account, 0);
        n++;
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        json_decref(rows);
        json_decref(by);
        return rc;
    }
    *out = json_object();
    json_object_set_new(*out, "certificates", rows);
    json_object_set_new(*out, "totals", totals_of(by, "certificates", n, 0, 0));
    json_decref(by);
    return CIN_OK;
}

char *cin_csv_cell(const char *text)
{
    size_t n = text ? strlen(text) : 0, i, k = 0;
    int risky = n && strchr("=+-@\t\r", text[0]);
    int quote = risky || strpbrk(text ? text : "", ",\"\r\n") != NULL;
    char *out = malloc(n * 2 + 4);

    if (!out)
        return NULL;
    if (quote)
        out[k++] = '"';
    if (risky)
        out[k++] = '\''; /* a formula becomes text */
    for (i = 0; i < n; i++) {
        if (text[i] == '"')
            out[k++] = '"';
        out[k++] = text[i];
    }
    if (quote)
        out[k++] = '"';
    out[k] = '\0';
    return out;
}

/* Append a JSON value as a CSV cell to buf. */
static int add_cell(char **buf, size_t *len, size_t *cap, const json_t *v, int first)
{
    char num[32], *cell;
    const char *text = "";
    size_t need;

    if (json_is_string(v))
        text = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v)), text = num;
    else if (json_is_true(v) || json_is_false(v))
        text = json_is_true(v) ? "true" : "false";
    cell = cin_csv_cell(text);
    if (!cell)
        return CIN_ENOMEM;
    need = *len + strlen(cell) + 3;
    if (need > *cap) {
        char *m = realloc(*buf, need * 2);
        if (!m) {
            free(cell);
            return CIN_ENOMEM;
        }
        *buf = m;
        *cap = need * 2;
    }
    *len += (size_t)sprintf(*buf + *len, "%s%s", first ? "" : ",", cell);
    free(cell);
    return CIN_OK;
}

static int add_row(char **buf, size_t *len, size_t *cap, const json_t *row,
                   const char *const *columns, const char *kind)
{
    json_t *k = json_string(kind);
    size_t i;
    int rc = add_cell(buf, len, cap, k, 1);

    json_decref(k);
    for (i = 0; rc == CIN_OK && columns[i]; i++)
        rc = add_cell(buf, len, cap, json_object_get(row, columns[i]), 0);
    if (rc == CIN_OK)
        *len += (size_t)sprintf(*buf + *len, "\r\n");
    return rc;
}

char *cin_report_csv(const json_t *rows, const json_t *totals, const char *const *columns)
{
    size_t cap = 4096, len = 0, i;
    char *buf = malloc(cap);
    json_t *hdr = json_object(), *by;
    int rc = buf ? CIN_OK : CIN_ENOMEM;

    /* the header: "row" then the columns */
    for (i = 0; rc == CIN_OK && columns[i]; i++)
        json_object_set_new(hdr, columns[i], json_string(columns[i]));
    if (rc == CIN_OK)
        rc = add_row(&buf, &len, &cap, hdr, columns, "row");
    json_decref(hdr);
    for (i = 0; rc == CIN_OK && i < json_array_size(rows); i++)
        rc = add_row(&buf, &len, &cap, json_array_get(rows, i), columns, "item");
    by = totals ? json_object_get(totals, "by_account") : NULL;
    for (i = 0; rc == CIN_OK && i < json_array_size(by); i++)
        rc = add_row(&buf, &len, &cap, json_array_get(by, i), columns, "total");
    if (rc == CIN_OK && totals) {
        json_t *all = json_deep_copy(totals);
        json_object_set_new(all, "account", json_string("*"));
        rc = add_row(&buf, &len, &cap, all, columns, "total");
        json_decref(all);
    }
    if (rc != CIN_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}
