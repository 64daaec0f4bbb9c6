/* api_orders.c - /api/v1/orders and the actions on one order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_util.h"
#include "http_int.h"

#define MAX_NAMES_IN_BODY 1000

static void list_orders(http_ctx *c)
{
    cin_order_filter f = {0};
    cin_order *list = NULL;
    char status[40], q[256], q2[80], sortkey[40], sortsql[300];
    size_t n = 0, i;
    json_t *arr, *j;
    int limit, rc;
    int64_t cursor;

    if (http_paging(c, &limit, &cursor))
        return;
    f.status = http_query(c, "status", status, sizeof(status));
    if (f.status && !*f.status)
        f.status = NULL;
    if (f.status && !cin_order_status_valid(f.status)) {
        http_problem_field(c, "status", "unknown status '%s'", f.status);
        return;
    }
    f.q = http_query(c, "q", q, sizeof(q));
    if (http_account_scope(c, &f.account_id))
        return;
    /* an administrator sees the accounts below too, unless ?account= chose one
     * (an account with none below keeps the plain, indexed account filter) */
    if (http_is_admin(c) && f.account_id == c->user.account_id &&
        !http_query(c, "account", q2, sizeof(q2))) {
        cin_account *below = NULL;
        size_t nbelow = 0;
        rc = cin_store_account_descendants(c->st, c->user.account_path, &below, &nbelow);
        if (rc != CIN_OK) {
            http_fail(c, rc);
            return;
        }
        cin_account_list_free(below, nbelow);
        if (nbelow) {
            f.account_id = 0;
            f.subtree = c->user.account_path;
        }
    }
    if (!strcmp(c->user.role, "basic"))
        f.requester_id = c->user.id;
    /* issue 15: ?sort=field or -field (a whitelist); the cursor is then an offset */
    if (http_query(c, "sort", sortkey, sizeof(sortkey)) && *sortkey) {
        if (cin_sort_sql(sortkey, cin_order_sort_cols, "o.id", sortsql, sizeof(sortsql))) {
            http_problem_field(c, "sort",
                               "sort must be id, created, order_number, status, common_name,"
                               " product, requester, price or expires (with '-' before it:"
                               " descending)");
            return;
        }
        f.sort = sortsql;
        f.offset = cursor;
    } else {
        f.before_id = cursor;
    }
    f.limit = limit + 1; /* one more tells whether there is a next page */
    rc = cin_store_order_list(c->st, &f, &list, &n);
    if (rc != CIN_OK) {
        http_fail(c, rc);
        return;
    }
    arr = json_array();
    for (i = 0; i < n && i < (size_t)limit; i++) {
        json_t *oj = cin_order_json_rc(c->st, &c->user, &list[i], &rc);
        if (!oj) {
            json_decref(arr);
            cin_order_list_free(list, n);
            http_fail(c, rc);
            return;
        }
        json_array_append_new(arr, oj);
    }
    if (http_want_csv(c)) {
        static const char *const cols[] = {"id",
                                           "order_number",
                                           "status",
                                           "product",
                                           "common_name",
                                           "sans",
                                           "requester",
                                           "price",
                                           "kind",
                                           "parent",
                                           "superseded_by",
                                           "rejection_reason",
                                           "certificate.serial",
                                           "certificate.not_after",
                                           "created_at",
                                           "updated_at",
                                           NULL};
        cin_order_list_free(list, n);
        http_csv(c, arr, cols, "orders.csv");
        return;
    }
    j = json_object();
    json_object_set_new(j, "orders", arr);
    if (n > (size_t)limit) {
        char cur[32];
        snprintf(cur, sizeof(cur), "%lld",
                 f.sort ? (long long)(f.offset + limit) : (long long)list[limit - 1].id);
        json_object_set_new(j, "next_cursor", json_string(cur));
    } else {
        json_object_set_new(j, "next_cursor", json_null());
    }
    cin_order_list_free(list, n);
    http_json(c, 200, j);
}

static void create_order(http_ctx *c)
{
    cin_order_request r;
    cin_problem p = {0};
    cin_order o;
    int64_t validity = 0;
    int auto_renew = 0;

    memset(&r, 0, sizeof(r));
    if (http_body_str(c, "product", 1, &r.product) ||
        http_body_str(c, "common_name", 1, &r.common_name) ||
        http_body_str(c, "key_source", 0, &r.key_source) ||
        http_body_str(c, "key_type", 0, &r.key_type) || http_body_str(c, "csr", 0, &r.csr) ||
        http_body_str(c, "account", 0, &r.account) ||
        http_body_int(c, "validity_days", 1, 100000, &validity) ||
        http_body_bool(c, "auto_renew", &auto_renew) ||
        http_body_strv(c, "sans", MAX_NAMES_IN_BODY, &r.sans, &r.nsans))
        return;
    r.validity_days = (int)validity;
    r.auto_renew = auto_renew;
    r.fields = json_object_get(c->body, "fields");
    if (cin_order_create(c->st, &c->actor, &r, &o, &p) == CIN_OK) {
        http_order(c, 201, &o);
        cin_order_clear(&o);
    } else {
        http_problem_from(c, &p);
    }
    free(r.sans);
}

static void events(http_ctx *c, int64_t id)
{
    cin_problem p = {0};
    cin_event *ev = NULL;
    cin_order o;
    size_t n = 0, i;
    json_t *arr, *j;
    int rc, admin = http_is_admin(c);

    if (cin_order_get_visible(c->st, &c->actor, id, &o, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    cin_order_clear(&o);
    rc = cin_store_event_list(c->st, 0, id, 0, 10000, &ev, &n);
    if (rc != CIN_OK) {
        http_fail(c, rc);
        return;
    }
    arr = json_array();
    for (i = 0; i < n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "at", json_string(ev[i].at));
        json_object_set_new(e, "actor", json_string(ev[i].actor));
        json_object_set_new(e, "action", json_string(ev[i].action));
        /* where an administrator worked from is theirs to know, not the customer's */
        if (admin)
            json_object_set_new(e, "peer", ev[i].peer ? json_string(ev[i].peer) : json_null());
        json_object_set_new(e, "detail", ev[i].detail ? json_string(ev[i].detail) : json_null());
        /* issue 14: a DNS hook's exit status and stderr are for administrators */
        if (!admin && ev[i].detail && strstr(ev[i].detail, "\"dns_hook\"")) {
            json_t *d = json_loads(ev[i].detail, 0, NULL);
            char *txt;
            json_object_del(d, "dns_hook");
            txt = d ? json_dumps(d, JSON_COMPACT) : NULL;
            json_object_set_new(e, "detail", txt ? json_string(txt) : json_null());
            free(txt);
            json_decref(d);
        }
        json_array_append_new(arr, e);
    }
    cin_event_list_free(ev, n);
    j = json_object();
    json_object_set_new(j, "events", arr);
    json_object_set_new(j, "next_cursor", json_null());
    http_json(c, 200, j);
}

static int method_is(http_ctx *c, const char *m)
{
    if (!strcmp(c->req->method, m))
        return 1;
    http_problem(c, 405, "method_not_allowed", "use %s", m);
    return 0;
}

/* Run an action; reply 200 (or 201 when it creates an order). */
static void reply(http_ctx *c, int rc, int created, cin_order *o, cin_problem *p)
{
    if (rc == CIN_OK) {
        http_order(c, created ? 201 : 200, o);
        cin_order_clear(o);
    } else {
        http_problem_from(c, p);
    }
}

static void action(http_ctx *c, int64_t id, const char *act, const char *sub)
{
    cin_problem p = {0};
    cin_order o;
    const char *s1 = NULL, *s2 = NULL;
    int rc;

    memset(&o, 0, sizeof(o));
    if (!strcmp(act, "approve")) {
        if (!method_is(c, "POST") || http_body_str(c, "comment", 0, &s1))
            return;
        reply(c, cin_order_approve(c->st, &c->actor, id, s1, &o, &p), 0, &o, &p);
    } else if (!strcmp(act, "reject")) {
        if (!method_is(c, "POST") || http_body_str(c, "reason", 0, &s1))
            return;
        reply(c, cin_order_reject(c->st, &c->actor, id, s1, &o, &p), 0, &o, &p);
    } else if (!strcmp(act, "signatory") && sub &&
               (!strcmp(sub, "approve") || !strcmp(sub, "reject"))) {
        int approve = !strcmp(sub, "approve");
        if (!method_is(c, "POST") || http_body_str(c, approve ? "comment" : "reason", 0, &s1))
            return;
        reply(c, cin_order_signatory(c->st, &c->actor, id, approve, s1, &o, &p), 0, &o, &p);
    } else if (!strcmp(act, "pay")) {
        char *replay = NULL;
        int rstatus = 200;
        if (!method_is(c, "POST"))
            return;
        rc = cin_order_pay(c->st, &c->actor, id, http_req_header(c, "Idempotency-Key"), &o, &replay,
                           &rstatus, &p);
        if (rc == CIN_OK && replay) {
            http_raw(c, rstatus, "application/json", replay, strlen(replay));
            http_header(c->resp, "Idempotent-Replayed", "true");
            cin_order_clear(&o);
        } else {
            reply(c, rc, 0, &o, &p);
        }
    } else if (!strcmp(act, "csr")) {
        if (!method_is(c, "PUT") || http_body_str(c, "csr", 1, &s1))
            return;
        reply(c, cin_order_set_csr(c->st, &c->actor, id, s1, &o, &p), 0, &o, &p);
    } else if (!strcmp(act, "cancel")) {
        if (!method_is(c, "POST") || http_body_str(c, "note", 0, &s1))
            return;
        reply(c, cin_order_cancel(c->st, &c->actor, id, s1, &o, &p), 0, &o, &p);
    } else if (!strcmp(act, "revoke")) {
        if (!method_is(c, "POST") || http_body_str(c, "reason", 0, &s1))
            return;
        reply(c, cin_order_revoke(c->st, &c->actor, id, s1, &o, &p), 0, &o, &p);
    } else if (!strcmp(act, "retry")) {
        if (!method_is(c, "POST"))
            return;
        reply(c, cin_order_retry(c->st, &c->actor, id, &o, &p), 0, &o, &p);
    } else if (!strcmp(act, "renew")) {
        if (!method_is(c, "POST"))
            return;
        reply(c, cin_order_renew(c->st, &c->actor, id, &o, &p), 1, &o, &p);
    } else if (!strcmp(act, "reissue")) {
        if (!method_is(c, "POST") || http_body_str(c, "csr", 0, &s1) ||
            http_body_str(c, "key_type", 0, &s2))
            return;
        reply(c, cin_order_reissue(c->st, &c->actor, id, s1, s2, &o, &p), 1, &o, &p);
    } else if (!strcmp(act, "sans")) {
        const char **add = NULL, **rm = NULL;
        size_t nadd = 0, nrm = 0;
        if (!method_is(c, "POST") || http_body_strv(c, "add", MAX_NAMES_IN_BODY, &add, &nadd) ||
            http_body_strv(c, "remove", MAX_NAMES_IN_BODY, &rm, &nrm)) {
            free(add);
            return;
        }
        reply(c, cin_order_sans(c->st, &c->actor, id, add, nadd, rm, nrm, &o, &p), 1, &o, &p);
        free(add);
        free(rm);
    } else if (!strcmp(act, "certificate")) {
        char *pem = NULL;
        if (!method_is(c, "GET"))
            return;
        if (cin_order_chain(c->st, &c->actor, id, &pem, &p) == CIN_OK)
            http_raw(c, 200, "application/pem-certificate-chain", pem, strlen(pem));
        else
            http_problem_from(c, &p);
    } else if (!strcmp(act, "key")) {
        char *pem = NULL;
        if (!method_is(c, "GET"))
            return;
        if (cin_order_key(c->st, &c->actor, id, &pem, &p) == CIN_OK) {
            http_raw(c, 200, "application/x-pem-file", pem, strlen(pem));
            c->resp->secret = 1;
        } else
            http_problem_from(c, &p);
    } else if (!strcmp(act, "pkcs12")) {
        api_order_pkcs12(c, id);
    } else if (!strcmp(act, "events")) {
        if (method_is(c, "GET"))
            events(c, id);
    } else {
        http_problem(c, 404, "not_found", "no such action: %s", act);
    }
}

void api_orders(http_ctx *c)
{
    int64_t id;

    if (c->nseg == 1) {
        if (!strcmp(c->req->method, "GET"))
            list_orders(c);
        else if (!strcmp(c->req->method, "POST"))
            create_order(c);
        else
            http_problem(c, 405, "method_not_allowed", "use GET or POST");
        return;
    }
    id = cin_order_parse_id(c->seg[1]);
    if (!id) {
        http_problem(c, 404, "not_found", "no order %s", c->seg[1]);
        return;
    }
    if (c->nseg == 2) {
        cin_problem p = {0};
        cin_order o;
        if (!method_is(c, "GET"))
            return;
        if (cin_order_get_visible(c->st, &c->actor, id, &o, &p) == CIN_OK) {
            http_order(c, 200, &o);
            cin_order_clear(&o);
        } else {
            http_problem_from(c, &p);
        }
        return;
    }
    if (c->nseg > 4 || (c->nseg == 4 && strcmp(c->seg[2], "signatory"))) {
        http_problem(c, 404, "not_found", "no such resource");
        return;
    }
    action(c, id, c->seg[2], c->nseg == 4 ? c->seg[3] : NULL);
}
