/* api_account.c - products, account, domains, ledger, certificates, audit, users, tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_util.h"
#include "cin_autossl.h"
#include "http_int.h"

static int need(http_ctx *c, const char *method)
{
    if (!strcmp(c->req->method, method))
        return 1;
    http_problem(c, 405, "method_not_allowed", "use %s", method);
    return 0;
}

static int need_admin(http_ctx *c)
{
    if (http_is_admin(c))
        return 1;
    http_problem(c, 403, "forbidden", "only an administrator may do this");
    return 0;
}

static json_t *list_reply(const char *key, json_t *arr, int64_t next)
{
    json_t *j = json_object();
    char cur[32];

    json_object_set_new(j, key, arr);
    if (next > 0) {
        snprintf(cur, sizeof(cur), "%lld", (long long)next);
        json_object_set_new(j, "next_cursor", json_string(cur));
    } else {
        json_object_set_new(j, "next_cursor", json_null());
    }
    return j;
}

static void products(http_ctx *c)
{
    cin_product *p = NULL;
    size_t n = 0, i;
    json_t *arr = json_array();

    int rc = cin_store_product_list(c->st, &p, &n);

    if (rc != CIN_OK) {
        json_decref(arr);
        http_fail(c, rc);
        return;
    }
    for (i = 0; i < n; i++) {
        json_t *j = json_object();
        json_object_set_new(j, "code", json_string(p[i].code));
        json_object_set_new(j, "type", json_string(p[i].type));
        json_object_set_new(j, "max_sans", json_integer(p[i].max_names));
        json_object_set_new(j, "wildcard", json_boolean(p[i].wildcard));
        json_object_set_new(j, "validity_days", json_integer(p[i].max_validity_days));
        json_object_set_new(j, "price", json_integer(p[i].price));
        json_object_set_new(j, "price_per_additional_name", json_integer(p[i].price_per_name));
        json_object_set_new(j, "needs_signatory", json_boolean(!strcmp(p[i].type, "ev")));
        json_array_append_new(arr, j);
    }
    cin_product_list_free(p, n);
    http_json(c, 200, list_reply("products", arr, 0));
}

/* The account's AutoSSL policy ("autossl": null when none) and the domains it
 * could not order for (short credits...): what the page shows as alerts. */
static int autossl_json(http_ctx *c, json_t *j)
{
    cin_metric_row *r = NULL;
    char *product = NULL;
    size_t n = 0, i;
    json_t *pol, *alerts;
    int www = 0, rc = cin_store_auto_policy_get(c->st, c->user.account_id, &product, &www);

    if (rc != CIN_OK)
        return rc;
    if (!product) {
        json_object_set_new(j, "autossl", json_null());
        return CIN_OK;
    }
    rc = cin_store_auto_alerts(c->st, c->user.account_id, &r, &n);
    if (rc != CIN_OK) {
        free(product);
        return rc;
    }
    pol = json_object();
    alerts = json_array();
    json_object_set_new(pol, "product", json_string(product));
    json_object_set_new(pol, "include_www", json_boolean(www));
    for (i = 0; i < n; i++) {
        json_t *al = json_object();
        char when[21];
        cin_time_rfc3339((time_t)r[i].n, when);
        json_object_set_new(al, "name", json_string(r[i].a));
        json_object_set_new(al, "detail", json_string(r[i].b ? r[i].b : ""));
        json_object_set_new(al, "retry_at", json_string(when));
        json_array_append_new(alerts, al);
    }
    json_object_set_new(pol, "alerts", alerts);
    json_object_set_new(j, "autossl", pol);
    cin_metric_rows_free(r, n);
    free(product);
    return CIN_OK;
}

static void account(http_ctx *c)
{
    cin_account a;
    json_t *j;
    int rc = cin_store_account_get_id(c->st, c->user.account_id, &a);

    if (rc != CIN_OK) {
        http_fail(c, rc);
        return;
    }
    j = json_object();
    json_object_set_new(j, "name", json_string(a.name));
    json_object_set_new(j, "credits", json_integer(a.credits));
    json_object_set_new(j, "parent", a.parent ? json_string(a.parent) : json_null());
    json_object_set_new(j, "billing", json_string(a.billing ? a.billing : "prepaid"));
    json_object_set_new(j, "requires_parent_approval", json_boolean(a.requires_parent_approval));
    cin_account_clear(&a);
    rc = autossl_json(c, j);
    if (rc != CIN_OK) {
        json_decref(j);
        http_fail(c, rc);
        return;
    }
    http_json(c, 200, j);
}

/* POST {"name", "account"}: delegate a domain to a sub-account (issue 16). */
static void domain_delegate(http_ctx *c)
{
    cin_problem p = {0};
    const char *name = NULL, *account = NULL;
    json_t *j;

    if (http_body_str(c, "name", 1, &name) || http_body_str(c, "account", 1, &account))
        return;
    if (cin_account_domain_add(c->st, &c->actor, account, name, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    j = json_object();
    json_object_set_new(j, "name", json_string(name));
    json_object_set_new(j, "account", json_string(account));
    http_json(c, 201, j);
}

static void domains(http_ctx *c)
{
    char **names = NULL;
    size_t n = 0, i;
    json_t *arr;
    int64_t acct;
    int rc;

    if (!strcmp(c->req->method, "POST")) {
        domain_delegate(c);
        return;
    }
    if (http_account_scope(c, &acct))
        return;
    arr = json_array();
    rc = cin_store_domain_list(c->st, acct, &names, &n);

    if (rc != CIN_OK) {
        json_decref(arr);
        http_fail(c, rc);
        return;
    }
    for (i = 0; i < n; i++) {
        json_t *j = json_object();
        json_object_set_new(j, "name", json_string(names[i]));
        json_object_set_new(j, "covers_subdomains", json_true());
        json_array_append_new(arr, j);
    }
    cin_strv_free(names, n);
    http_json(c, 200, list_reply("domains", arr, 0));
}

static void ledger(http_ctx *c)
{
    cin_ledger_entry *e = NULL;
    size_t n = 0, i;
    int limit;
    int64_t cursor, acct;
    json_t *arr;
    int rc;

    if (!need_admin(c) || http_paging(c, &limit, &cursor) || http_account_scope(c, &acct))
        return;
    rc = cin_store_ledger_list(c->st, acct, cursor, limit + 1, &e, &n);
    if (rc != CIN_OK) {
        http_fail(c, rc);
        return;
    }
    arr = json_array();
    for (i = 0; i < n && i < (size_t)limit; i++) {
        json_t *j = json_object();
        char oid[32];
        json_object_set_new(j, "id", json_integer(e[i].id));
        json_object_set_new(j, "at", json_string(e[i].at));
        json_object_set_new(j, "delta", json_integer(e[i].delta));
        json_object_set_new(j, "balance", json_integer(e[i].balance));
        json_object_set_new(j, "reason", json_string(e[i].reason));
        json_object_set_new(j, "actor", e[i].actor ? json_string(e[i].actor) : json_null());
        if (e[i].order_id) {
            snprintf(oid, sizeof(oid), "R-%06lld", (long long)e[i].order_id);
            json_object_set_new(j, "order", json_string(oid));
        } else {
            json_object_set_new(j, "order", json_null());
        }
        json_array_append_new(arr, j);
    }
    if (http_want_csv(c)) {
        static const char *const cols[] = {"at",     "delta", "balance", "order",
                                           "reason", "actor", NULL};
        http_csv(c, arr, cols, "ledger.csv");
    } else {
        http_json(c, 200, list_reply("ledger", arr, n > (size_t)limit ? e[limit - 1].id : 0));
    }
    cin_ledger_free(e, n);
}

/* How the lineage of o began: "automatic" (AutoSSL), "import", or "ordered"
 * (someone placed it) - the page shows the first two as such.  Renewals and
 * reissues are followed up to their first order (a few steps). */
static const char *lineage_origin(cin_store *st, const cin_order *o)
{
    const char *origin = "ordered";
    int64_t up = o->parent_id;
    int steps;

    if (!strcmp(o->kind, "automatic") || !strcmp(o->kind, "import"))
        return !strcmp(o->kind, "import") ? "import" : "automatic";
    for (steps = 0; up && steps < 64; steps++) {
        cin_order p;
        if (cin_store_order_get(st, up, &p) != CIN_OK)
            break;
        up = p.parent_id;
        if (!strcmp(p.kind, "automatic") || !strcmp(p.kind, "import"))
            origin = !strcmp(p.kind, "import") ? "import" : "automatic";
        cin_order_clear(&p);
    }
    return origin;
}

static void certificates(http_ctx *c)
{
    cin_cert *certs = NULL;
    size_t n = 0, i;
    time_t now = cin_now(cin_core_services(c->core)), before = 0;
    int64_t acct, offset = 0;
    int limit = 0, paged = 0, more = 0;
    char buf[16], *end, sortkey[40], sortsql[300] = "not_after_ts, id";
    json_t *arr;
    int rc;

    if (http_query(c, "expiring_within_days", buf, sizeof(buf))) {
        long d = strtol(buf, &end, 10);
        if (*end || d < 0 || d > 100000) {
            http_problem_field(c, "expiring_within_days",
                               "expiring_within_days must be a number of days");
            return;
        }
        before = now + d * 86400;
    }
    /* issue 15: ?sort=field|-field (a whitelist, default not_after), and with
     * ?limit= pages (the cursor is an offset); without limit, every row */
    if (http_query(c, "sort", sortkey, sizeof(sortkey)) && *sortkey) {
        if (cin_sort_sql(sortkey, cin_cert_sort_cols, "id", sortsql, sizeof(sortsql))) {
            http_problem_field(
                c, "sort",
                "sort must be not_after, common_name, not_before, order, serial or issuer"
                " (with '-' before it: descending)");
            return;
        }
    }
    if (http_query(c, "limit", buf, sizeof(buf)) || http_query(c, "cursor", buf, sizeof(buf))) {
        if (http_paging(c, &limit, &offset))
            return;
        paged = 1;
    }
    if (http_account_scope(c, &acct))
        return;
    rc = cin_store_cert_page(c->st, acct, !strcmp(c->user.role, "basic") ? c->user.id : 0, before,
                             sortsql, paged ? limit + 1 : 10000, offset, &certs, &n);
    if (rc != CIN_OK) {
        http_fail(c, rc);
        return;
    }
    arr = json_array();
    for (i = 0; i < n && (!paged || i < (size_t)limit); i++) {
        json_t *j = json_object(), *names = json_array();
        char oid[32];
        time_t na = 0;
        size_t k;
        snprintf(oid, sizeof(oid), "R-%06lld", (long long)certs[i].order_id);
        json_object_set_new(j, "order", json_string(oid));
        json_object_set_new(j, "serial", json_string(certs[i].serial));
        json_object_set_new(j, "common_name",
                            json_string(certs[i].nnames ? certs[i].names[0] : ""));
        for (k = 0; k < certs[i].nnames; k++)
            json_array_append_new(names, json_string(certs[i].names[k]));
        json_object_set_new(j, "names", names);
        json_object_set_new(j, "not_before", json_string(certs[i].not_before));
        json_object_set_new(j, "not_after", json_string(certs[i].not_after));
        cin_time_parse(certs[i].not_after, &na);
        json_object_set_new(j, "days_left", json_integer((na - now) / 86400));
        json_object_set_new(j, "issuer", json_string(certs[i].issuer));
        json_object_set_new(j, "sha256", json_string(certs[i].sha256));
        json_object_set_new(j, "status", json_string(na < now ? "expired" : certs[i].status));
        {
            /* auto_renew, and the alert of a renewal that failed (retried later) */
            cin_order o;
            rc = cin_store_order_get(c->st, certs[i].order_id, &o);
            if (rc != CIN_OK && rc != CIN_ENOTFOUND) {
                json_decref(j);
                json_decref(arr);
                cin_cert_list_free(certs, n);
                http_fail(c, rc);
                return;
            }
            if (rc == CIN_OK) {
                json_object_set_new(j, "origin", json_string(lineage_origin(c->st, &o)));
                json_object_set_new(j, "auto_renew", json_boolean(o.auto_renew));
                if (o.auto_renew && o.error_json && !strcmp(o.status, "issued")) {
                    json_t *e = json_loads(o.error_json, 0, NULL);
                    json_object_set_new(j, "renewal_alert", e ? e : json_null());
                } else {
                    json_object_set_new(j, "renewal_alert", json_null());
                }
                cin_order_clear(&o);
            }
        }
        json_array_append_new(arr, j);
    }
    more = paged && n > (size_t)limit;
    cin_cert_list_free(certs, n);
    if (http_want_csv(c)) {
        static const char *const cols[] = {"order",      "common_name", "names",     "serial",
                                           "not_before", "not_after",   "days_left", "status",
                                           "issuer",     "auto_renew",  NULL};
        http_csv(c, arr, cols, "certificates.csv");
        return;
    }
    http_json(c, 200, list_reply("certificates", arr, paged && more ? offset + limit : 0));
}

/* YYYY-MM-DD */
static int is_day(const char *s)
{
    static const char shape[] = "dddd-dd-dd";
    size_t i;

    for (i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != '-')
            return 0;
    return s[i] == '\0';
}

static void audit(http_ctx *c)
{
    cin_event *ev = NULL;
    size_t n = 0, i;
    int limit;
    int64_t cursor, acct;
    json_t *arr;
    int rc;

    cin_event_filter f = {0};
    char actor[80], action[80], since[16], until[16];

    if (!need_admin(c) || http_paging(c, &limit, &cursor) || http_account_scope(c, &acct))
        return;
    f.account_id = acct;
    f.before_id = cursor;
    f.limit = limit + 1;
    f.actor = http_query(c, "actor", actor, sizeof(actor));
    f.action = http_query(c, "action", action, sizeof(action));
    f.since = http_query(c, "since", since, sizeof(since));
    f.until = http_query(c, "until", until, sizeof(until));
    if (f.since && *f.since && !is_day(f.since)) {
        http_problem_field(c, "since", "since must be a day, YYYY-MM-DD");
        return;
    }
    if (f.until && *f.until && !is_day(f.until)) {
        http_problem_field(c, "until", "until must be a day, YYYY-MM-DD");
        return;
    }
    rc = cin_store_event_search(c->st, &f, &ev, &n);
    if (rc != CIN_OK) {
        http_fail(c, rc);
        return;
    }
    arr = json_array();
    for (i = 0; i < n && i < (size_t)limit; i++) {
        json_t *j = json_object();
        char oid[32];
        json_object_set_new(j, "id", json_integer(ev[i].id));
        json_object_set_new(j, "at", json_string(ev[i].at));
        json_object_set_new(j, "actor", json_string(ev[i].actor));
        json_object_set_new(j, "action", json_string(ev[i].action));
        json_object_set_new(j, "peer", ev[i].peer ? json_string(ev[i].peer) : json_null());
        if (ev[i].order_id) {
            snprintf(oid, sizeof(oid), "R-%06lld", (long long)ev[i].order_id);
            json_object_set_new(j, "order", json_string(oid));
        } else {
            json_object_set_new(j, "order", json_null());
        }
        json_object_set_new(j, "detail", ev[i].detail ? json_string(ev[i].detail) : json_null());
        json_array_append_new(arr, j);
    }
    http_json(c, 200, list_reply("events", arr, n > (size_t)limit ? ev[limit - 1].id : 0));
    cin_event_list_free(ev, n);
}

static json_t *user_json(const cin_user *u)
{
    json_t *j = json_object();

    json_object_set_new(j, "name", json_string(u->name));
    json_object_set_new(j, "role", json_string(u->role));
    json_object_set_new(j, "account", json_string(u->account));
    json_object_set_new(j, "authorized_signatory", json_boolean(u->signatory));
    json_object_set_new(j, "disabled", json_boolean(u->disabled));
    json_object_set_new(j, "has_password", json_boolean(u->password_hash != NULL));
    json_object_set_new(j, "created_at", json_string(u->created_at));
    return j;
}

static void users(http_ctx *c)
{
    cin_problem p = {0};
    cin_user_fields f = {NULL, NULL, -1, -1, NULL};
    cin_user u;
    int rc;

    if (!need_admin(c))
        return;
    if (c->nseg == 1 && !strcmp(c->req->method, "GET")) {
        cin_user *list = NULL;
        size_t n = 0, i;
        json_t *arr;
        int64_t acct;
        if (http_account_scope(c, &acct))
            return;
        rc = cin_store_user_list(c->st, acct, &list, &n);
        if (rc != CIN_OK) {
            http_fail(c, rc);
            return;
        }
        arr = json_array();
        for (i = 0; i < n; i++)
            json_array_append_new(arr, user_json(&list[i]));
        cin_user_list_free(list, n);
        http_json(c, 200, list_reply("users", arr, 0));
    } else if (c->nseg == 1 && !strcmp(c->req->method, "POST")) {
        f.signatory = 0;
        if (http_body_str(c, "name", 1, &f.name) || http_body_str(c, "role", 1, &f.role) ||
            http_body_str(c, "password", 0, &f.password) ||
            http_body_bool(c, "authorized_signatory", &f.signatory))
            return;
        if (cin_account_user_create(c->st, &c->actor, c->user.account_id, &f, &u, &p) != CIN_OK) {
            http_problem_from(c, &p);
            return;
        }
        http_json(c, 201, user_json(&u));
        cin_user_clear(&u);
    } else if (c->nseg == 2 && !strcmp(c->req->method, "PATCH")) {
        if (http_body_str(c, "role", 0, &f.role) || http_body_str(c, "password", 0, &f.password) ||
            http_body_bool(c, "authorized_signatory", &f.signatory) ||
            http_body_bool(c, "disabled", &f.disabled))
            return;
        if (cin_account_user_update(c->st, &c->actor, c->seg[1], &f, &u, &p) != CIN_OK) {
            http_problem_from(c, &p);
            return;
        }
        http_json(c, 200, user_json(&u));
        cin_user_clear(&u);
    } else {
        http_problem(c, 405, "method_not_allowed", "use GET or POST /users, PATCH /users/{name}");
    }
}

static json_t *token_json(const cin_token_info *t)
{
    json_t *j = json_object();
    char buf[21];

    json_object_set_new(j, "id", json_integer(t->id));
    json_object_set_new(j, "name", json_string(t->name));
    json_object_set_new(j, "user", json_string(t->user));
    json_object_set_new(j, "prefix", json_string(t->prefix));
    if (t->expires_at) {
        cin_time_rfc3339(t->expires_at, buf);
        json_object_set_new(j, "expires_at", json_string(buf));
    } else {
        json_object_set_new(j, "expires_at", json_null());
    }
    json_object_set_new(j, "created_at", json_string(t->created_at));
    return j;
}

static void tokens(http_ctx *c)
{
    int admin = http_is_admin(c);
    cin_problem p = {0};
    int rc;

    if (c->nseg == 1 && !strcmp(c->req->method, "GET")) {
        cin_token_info *list = NULL;
        size_t n = 0, i;
        json_t *arr;
        rc = cin_store_token_list(c->st, admin ? 0 : c->user.id, c->user.account_id, &list, &n);
        if (rc != CIN_OK) {
            http_fail(c, rc);
            return;
        }
        arr = json_array();
        for (i = 0; i < n; i++)
            json_array_append_new(arr, token_json(&list[i]));
        cin_token_list_free(list, n);
        http_json(c, 200, list_reply("tokens", arr, 0));
    } else if (c->nseg == 1 && !strcmp(c->req->method, "POST")) {
        const char *name = NULL;
        int64_t days = 0;
        char *secret = NULL;
        cin_token_info t;
        json_t *j;
        if (http_body_str(c, "name", 1, &name) ||
            http_body_int(c, "expires_in_days", 1, 3650, &days))
            return;
        if (cin_account_token_create(c->st, &c->actor, c->user.id, name, (int)days, &secret, &t,
                                     &p) != CIN_OK) {
            http_problem_from(c, &p);
            return;
        }
        j = token_json(&t);
        json_object_set_new(j, "token", json_string(secret));
        cin_free_secret(secret, strlen(secret));
        cin_token_info_clear(&t);
        http_json(c, 201, j);
    } else if (c->nseg == 2 && !strcmp(c->req->method, "DELETE")) {
        char *end;
        long long id = strtoll(c->seg[1], &end, 10);
        if (*end || id <= 0) {
            http_problem(c, 404, "not_found", "no token %s", c->seg[1]);
            return;
        }
        if (cin_account_token_delete(c->st, &c->actor, id, &p) != CIN_OK)
            http_problem_from(c, &p);
        else
            http_no_content(c);
    } else {
        http_problem(c, 405, "method_not_allowed", "use GET or POST /tokens, DELETE /tokens/{id}");
    }
}

void api_account(http_ctx *c)
{
    const char *r = c->nseg ? c->seg[0] : "";

    if (!strcmp(r, "users") && c->nseg <= 2) {
        users(c);
        return;
    }
    if (!strcmp(r, "tokens") && c->nseg <= 2) {
        tokens(c);
        return;
    }
    if (c->nseg != 1) {
        http_problem(c, 404, "not_found", "no such resource");
        return;
    }
    if (!strcmp(r, "domains") && !strcmp(c->req->method, "POST")) {
        domains(c);
        return;
    }
    if (!need(c, "GET"))
        return;
    if (!strcmp(r, "products"))
        products(c);
    else if (!strcmp(r, "account"))
        account(c);
    else if (!strcmp(r, "domains"))
        domains(c);
    else if (!strcmp(r, "ledger"))
        ledger(c);
    else if (!strcmp(r, "certificates"))
        certificates(c);
    else if (!strcmp(r, "audit"))
        audit(c);
    else
        http_problem(c, 404, "not_found", "no such resource");
}
