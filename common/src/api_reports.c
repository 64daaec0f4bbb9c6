/* api_reports.c - /api/v1/reports/{orders,certificates,sales} as JSON or CSV (issue 16). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_report.h"
#include "cin_util.h"
#include "http_int.h"

static const char *const order_columns[] = {
    "id",    "order_number",  "account",    "requester",   "product", "status", "common_name",
    "price", "credits_spent", "created_at", "fields_text", "orders",  NULL};
static const char *const cert_columns[] = {
    "order",     "account", "product", "common_name", "names",        "serial", "not_before",
    "not_after", "status",  "issuer",  "sha256",      "certificates", NULL};
static const char *const sales_columns[] = {"account", "orders", "credits_spent", NULL};

/* A query value (empty: absent); 400 when it does not fit. */
static int query_opt(http_ctx *c, const char *name, char *buf, size_t len, const char **out)
{
    *out = http_query(c, name, buf, len);
    if (*out && !**out)
        *out = NULL;
    return 0;
}

void api_reports(http_ctx *c)
{
    cin_report_filter f;
    char product[64], status[40], from[40], to[40], fmt[16], account[80], group[80], field[80],
        value[260];
    const char *format = NULL, *kind = c->nseg == 2 ? c->seg[1] : "";
    json_t *rep = NULL, *rows;
    int64_t acct;
    int rc;

    if (c->nseg != 2 ||
        (strcmp(kind, "orders") && strcmp(kind, "certificates") && strcmp(kind, "sales"))) {
        http_problem(c, 404, "not_found", "reports: orders, certificates, sales");
        return;
    }
    if (strcmp(c->req->method, "GET")) {
        http_problem(c, 405, "method_not_allowed", "use GET");
        return;
    }
    memset(&f, 0, sizeof(f));
    query_opt(c, "product", product, sizeof(product), &f.product);
    query_opt(c, "status", status, sizeof(status), &f.status);
    query_opt(c, "from", from, sizeof(from), &f.from);
    query_opt(c, "to", to, sizeof(to), &f.to);
    query_opt(c, "format", fmt, sizeof(fmt), &format);
    query_opt(c, "group", group, sizeof(group), &f.group);
    query_opt(c, "field", field, sizeof(field), &f.field);
    query_opt(c, "value", value, sizeof(value), &f.field_value);
    if (format && strcmp(format, "csv") && strcmp(format, "json")) {
        http_problem_field(c, "format", "format is json or csv");
        return;
    }
    if (http_account_scope(c, &acct))
        return;
    /* an administrator's reports cover the accounts below too; a user's, the
     * account; a basic user's, their own orders */
    f.subtree = c->user.account_path;
    if (!http_is_admin(c) || http_query(c, "account", account, sizeof(account)))
        f.account_id = acct;
    if (!strcmp(c->user.role, "basic"))
        f.requester_id = c->user.id;
    rc = !strcmp(kind, "certificates") ? cin_report_certificates(c->st, &f, &rep)
                                       : cin_report_orders(c->st, &f, &rep);
    if (rc != CIN_OK) {
        http_fail(c, rc);
        return;
    }
    if (!strcmp(kind, "sales")) {
        /* the sales summary: the totals alone */
        json_t *s = json_object();
        json_object_set(s, "accounts",
                        json_object_get(json_object_get(rep, "totals"), "by_account"));
        json_object_set(s, "totals", json_object_get(rep, "totals"));
        json_object_del(json_object_get(s, "totals"), "by_account");
        json_decref(rep);
        rep = s;
    }
    if (format && !strcmp(format, "csv")) {
        const char *const *cols = !strcmp(kind, "orders")         ? order_columns
                                  : !strcmp(kind, "certificates") ? cert_columns
                                                                  : sales_columns;
        char *csv;
        rows = json_object_get(rep, !strcmp(kind, "sales") ? "accounts" : kind);
        csv = cin_report_csv(rows, !strcmp(kind, "sales") ? NULL : json_object_get(rep, "totals"),
                             cols);
        json_decref(rep);
        if (!csv) {
            http_fail(c, CIN_ENOMEM);
            return;
        }
        http_header(c->resp, "Content-Disposition", "attachment; filename=\"report.csv\"");
        http_raw(c, 200, "text/csv; charset=utf-8", csv, strlen(csv));
        return;
    }
    http_json(c, 200, rep);
}
