/*
 * test_account_tree.c - resellers and their customers (account_tree.c and
 * the order workflow's hierarchy rules) through cin_http_handle(): three
 * levels acme -> resell -> cust, the role x status x action matrix for
 * parent administrators against an oracle written here, parent approval,
 * billing to the parent with both ledgers, orders for a customer, domain
 * delegation, credits moved down, and the automatic-ordering policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_account.h"
#include "cin_order.h"
#include "cin_util.h"
#include "harness.h"

static fixture *F;

/* The hierarchy's users (beyond the fixture's ann, sam, oscar). */
enum { R_ADM, R_STD, C_ADM, C_STD, C_BAS, X_ANN, X_SAM, X_OSCAR, NPEOPLE };
static const char *const pname[NPEOPLE] = {"radm", "rstd", "cadm", "cstd",
                                           "cbas", "ann",  "sam",  "oscar"};
static char *tok[NPEOPLE];

static hresp as(int who, const char *method, const char *path, const char *body)
{
    char auth[300];
    const char *h[] = {auth, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok[who]);
    return call(F, -1, method, path, body, h);
}

static void expect(hresp r, int status)
{
    ck_assert_msg(r.status == status, "got %d, expected %d: %s", r.status, status,
                  r.body ? r.body : "");
    hresp_free(&r);
}

static void token_for(int who)
{
    cin_user u;

    ck_assert_int_eq(cin_store_user_get(F->st, pname[who], &u), CIN_OK);
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_token_create(F->st, u.id, "t", 0, &tok[who], NULL), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    cin_user_clear(&u);
}

static void add_user(int by, const char *name, const char *role)
{
    char body[200];

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"%s\"}", name, role);
    expect(as(by, "POST", "/api/v1/users", body), 201);
}

/* acme (ann) -> resell (radm, rstd) -> cust (cadm, cstd, cbas); domains
 * r.example.com delegated to resell, c.r.example.com on to cust; credits
 * moved down: resell 300, cust 100. */
static void setup(void)
{
    int i;

    F = fixture_new();
    memset(tok, 0, sizeof(tok));
    tok[X_ANN] = strdup(F->token[U_ADMIN]);
    tok[X_SAM] = strdup(F->token[U_STANDARD]);
    tok[X_OSCAR] = strdup(F->token[U_OTHER_ADMIN]);
    expect(as(X_ANN, "POST", "/api/v1/accounts",
              "{\"name\":\"resell\",\"admin\":{\"name\":\"radm\",\"password\":\"radm-password\"}}"),
           201);
    token_for(R_ADM);
    add_user(R_ADM, "rstd", "standard");
    token_for(R_STD);
    expect(as(R_ADM, "POST", "/api/v1/accounts",
              "{\"name\":\"cust\",\"admin\":{\"name\":\"cadm\",\"password\":\"cadm-password\"}}"),
           201);
    token_for(C_ADM);
    add_user(C_ADM, "cstd", "standard");
    add_user(C_ADM, "cbas", "basic");
    token_for(C_STD);
    token_for(C_BAS);
    expect(
        as(X_ANN, "POST", "/api/v1/domains", "{\"name\":\"r.example.com\",\"account\":\"resell\"}"),
        201);
    expect(
        as(R_ADM, "POST", "/api/v1/domains", "{\"name\":\"c.r.example.com\",\"account\":\"cust\"}"),
        201);
    expect(as(X_ANN, "POST", "/api/v1/accounts/resell/credits", "{\"amount\":300}"), 200);
    expect(as(R_ADM, "POST", "/api/v1/accounts/cust/credits", "{\"amount\":100}"), 200);
    for (i = 0; i < NPEOPLE; i++)
        ck_assert_ptr_nonnull(tok[i]);
}

static void teardown(void)
{
    int i;

    for (i = 0; i < NPEOPLE; i++)
        free(tok[i]);
    fixture_free(F);
    F = NULL;
}

static long long credits_of(const char *account)
{
    char sql[160], *out;
    long long v;

    snprintf(sql, sizeof(sql), "SELECT credits FROM accounts WHERE name = '%s'", account);
    out = store_query(F, sql);
    v = atoll(out);
    free(out);
    return v;
}

/* Place an order as who (for `account` when not NULL); its id (static). */
static const char *order_as(int who, const char *account, const char *name, int want)
{
    static char id[32];
    char body[400];
    hresp r;

    if (account)
        snprintf(body, sizeof(body),
                 "{\"product\":\"dv-ssl\",\"common_name\":\"%s\",\"account\":\"%s\"}", name,
                 account);
    else
        snprintf(body, sizeof(body), "{\"product\":\"dv-ssl\",\"common_name\":\"%s\"}", name);
    r = as(who, "POST", "/api/v1/orders", body);
    ck_assert_msg(r.status == want, "order by %s: %d %s", pname[who], r.status, r.body);
    snprintf(id, sizeof(id), "%s", want == 201 ? jstr(&r, "id") : "");
    hresp_free(&r);
    return id;
}

static hresp act(int who, const char *id, const char *action, const char *body)
{
    char path[128];

    snprintf(path, sizeof(path), "/api/v1/orders/%s/%s", id, action);
    return as(who, "POST", path, body);
}

static char *status_of(const char *id)
{
    return order_status(F, id);
}

static void expect_status(const char *id, const char *want)
{
    char *s = status_of(id);

    ck_assert_msg(!strcmp(s, want), "%s is %s, expected %s", id, s, want);
    free(s);
}

/* ---- the matrix ------------------------------------------------------------ */

static const char *const actions[] = {
    "approve",
    "reject",
    "signatory_approve",
    "signatory_reject",
    "pay",
    "csr",
    "cancel",
    "download",
    "key",
    "renew",
    "reissue",
    "sans",
    "revoke",
    "retry",
};

/* cbas's order (cust, basic) in the given status. */
static const char *cust_order_in(const char *status)
{
    static char id[32];

    snprintf(id, sizeof(id), "%s", order_as(C_BAS, NULL, "m.c.r.example.com", 201));
    expect_status(id, "pending_parent_approval");
    if (!strcmp(status, "pending_parent_approval"))
        return id;
    if (!strcmp(status, "rejected")) {
        expect(act(R_ADM, id, "reject", "{\"reason\":\"not this one\"}"), 200);
        return id;
    }
    expect(act(R_ADM, id, "approve", NULL), 200);
    if (!strcmp(status, "pending_approval"))
        return id;
    expect(act(C_ADM, id, "approve", NULL), 200);
    if (!strcmp(status, "awaiting_payment"))
        return id;
    if (!strcmp(status, "cancelled")) {
        expect(act(C_BAS, id, "cancel", NULL), 200);
        return id;
    }
    expect(act(C_BAS, id, "pay", NULL), 200);
    if (!strcmp(status, "processing"))
        return id;
    agent_pass(F);
    expect_status(id, "issued");
    if (!strcmp(status, "revoked"))
        expect(act(R_ADM, id, "revoke", "{\"reason\":\"superseded\"}"), 200);
    return id;
}

/* The oracle, written from the rules, not from the core's table. */
static int oracle(const char *action, const char *status, int who)
{
    int admin = who == C_ADM || who == R_ADM || who == X_ANN;
    int parent = who == R_ADM || who == X_ANN;
    int requester = who == C_BAS;
    int before = !strcmp(status, "pending_parent_approval") ||
                 !strcmp(status, "pending_approval") || !strcmp(status, "awaiting_payment");
    int cert = !strcmp(status, "issued") || !strcmp(status, "revoked");

    if (who == R_STD || who == X_SAM || who == X_OSCAR)
        return 404; /* above, but not an administrator; or unrelated */
    if (!strcmp(action, "approve") || !strcmp(action, "reject")) {
        if (!strcmp(status, "pending_parent_approval"))
            return parent ? 200 : 403;
        if (!strcmp(status, "pending_approval"))
            return admin ? 200 : 403;
        return admin ? 409 : 403;
    }
    if (!strcmp(action, "signatory_approve") || !strcmp(action, "signatory_reject"))
        return 403; /* nobody here is cust's authorized signatory */
    if (!strcmp(action, "download"))
        return cert ? 200 : 409;
    if (!strcmp(action, "key") || !strcmp(action, "retry")) {
        if (!admin)
            return 403;
        return !strcmp(action, "key") && cert ? 200 : 409;
    }
    if (!admin && !requester)
        return 403;
    if (!strcmp(action, "pay"))
        return !strcmp(status, "awaiting_payment") ? 200 : 409;
    if (!strcmp(action, "csr"))
        return 409; /* a server-key order */
    if (!strcmp(action, "cancel"))
        return before || !strcmp(status, "processing") ? 200 : 409;
    if (!strcmp(action, "renew") || !strcmp(action, "reissue") || !strcmp(action, "sans") ||
        !strcmp(action, "revoke"))
        return !strcmp(status, "issued") ? (strcmp(action, "revoke") ? 201 : 200) : 409;
    ck_abort_msg("no oracle for %s", action);
    return 0;
}

static hresp do_action(int who, const char *id, const char *action)
{
    char path[128];

    if (!strcmp(action, "download") || !strcmp(action, "key")) {
        snprintf(path, sizeof(path), "/api/v1/orders/%s/%s", id,
                 !strcmp(action, "download") ? "certificate" : "key");
        return as(who, "GET", path, NULL);
    }
    if (!strcmp(action, "csr")) {
        snprintf(path, sizeof(path), "/api/v1/orders/%s/csr", id);
        return as(who, "PUT", path, "{\"csr\":\"x\"}");
    }
    if (!strcmp(action, "signatory_approve"))
        return act(who, id, "signatory/approve", NULL);
    if (!strcmp(action, "signatory_reject"))
        return act(who, id, "signatory/reject", "{\"reason\":\"no\"}");
    if (!strcmp(action, "reject"))
        return act(who, id, "reject", "{\"reason\":\"no\"}");
    if (!strcmp(action, "revoke"))
        return act(who, id, "revoke", "{\"reason\":\"superseded\"}");
    if (!strcmp(action, "sans"))
        return act(who, id, "sans", "{\"add\":[\"n.c.r.example.com\"]}");
    return act(who, id, action, NULL);
}

static int listed(const hresp *r, const char *action)
{
    json_t *a = json_object_get(r->json, "actions");
    size_t i;

    for (i = 0; i < json_array_size(a); i++)
        if (!strcmp(json_string_value(json_array_get(a, i)), action))
            return 1;
    return 0;
}

/*
 * For each status and each person: the order is visible exactly as the
 * oracle says; its `actions` are exactly the oracle's allowed ones; every
 * refusal the oracle predicts comes from the endpoint with that code and
 * changes nothing.  (Allowed actions are carried out in the scenarios.)
 */
START_TEST(matrix_with_parents)
{
    static const char *const statuses[] = {"pending_parent_approval",
                                           "pending_approval",
                                           "awaiting_payment",
                                           "processing",
                                           "issued",
                                           "rejected",
                                           "cancelled",
                                           "revoked"};
    const char *status = statuses[_i];
    char id[32], path[64], sql[160], *before, *after;
    size_t w, k;

    snprintf(id, sizeof(id), "%s", cust_order_in(status));
    expect_status(id, status);
    snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
    snprintf(sql, sizeof(sql),
             "SELECT * FROM orders WHERE id = %lld; SELECT count(*) FROM orders; SELECT "
             "count(*) FROM ledger; SELECT credits FROM accounts ORDER BY id",
             (long long)cin_order_parse_id(id));
    before = store_query(F, sql);
    for (w = 0; w < NPEOPLE; w++) {
        hresp g = as((int)w, "GET", path, NULL);
        int visible = oracle("download", status, (int)w) != 404;
        ck_assert_msg(g.status == (visible ? 200 : 404), "%s sees %s order: %d", pname[w], status,
                      g.status);
        for (k = 0; visible && k < sizeof(actions) / sizeof(actions[0]); k++) {
            int want = oracle(actions[k], status, (int)w);
            ck_assert_msg(listed(&g, actions[k]) == (want < 300),
                          "%s on a %s order for %s: listed %d, oracle %d (%s)", actions[k], status,
                          pname[w], listed(&g, actions[k]), want, g.body);
        }
        hresp_free(&g);
        for (k = 0; k < sizeof(actions) / sizeof(actions[0]); k++) {
            int want = oracle(actions[k], status, (int)w);
            hresp r;
            if (want < 300)
                continue;
            r = do_action((int)w, id, actions[k]);
            ck_assert_msg(r.status == want, "%s by %s on %s: got %d, expected %d (%s)", actions[k],
                          pname[w], status, r.status, want, r.body);
            ck_assert_str_eq(r.ctype, "application/problem+json");
            hresp_free(&r);
        }
    }
    after = store_query(F, sql);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

/* ---- scenarios ----------------------------------------------------------- */

static int ledger_has(int who, const char *account, const char *id, long long delta)
{
    char path[128];
    hresp r;
    json_t *l;
    size_t i;
    int found = 0;

    snprintf(path, sizeof(path), "/api/v1/ledger%s%s", account ? "?account=" : "",
             account ? account : "");
    r = as(who, "GET", path, NULL);
    ck_assert_int_eq(r.status, 200);
    l = json_object_get(r.json, "ledger");
    for (i = 0; i < json_array_size(l); i++) {
        json_t *e = json_array_get(l, i);
        const char *o = json_string_value(json_object_get(e, "order"));
        if (o && !strcmp(o, id) && json_integer_value(json_object_get(e, "delta")) == delta)
            found = 1;
    }
    hresp_free(&r);
    return found;
}

START_TEST(parent_approval_then_child_then_parent_pays)
{
    char id[32];
    long long rbefore, cbefore;
    hresp r;

    /* only the parent's administrators set the rules */
    expect(as(C_ADM, "PATCH", "/api/v1/accounts/cust", "{\"billing\":\"parent\"}"), 403);
    expect(as(R_STD, "PATCH", "/api/v1/accounts/cust", "{\"billing\":\"parent\"}"), 403);
    expect(as(R_ADM, "PATCH", "/api/v1/accounts/cust", "{\"billing\":\"weekly\"}"), 400);
    r = as(R_ADM, "PATCH", "/api/v1/accounts/cust", "{\"billing\":\"parent\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "billing"), "parent");
    ck_assert(json_is_true(json_object_get(r.json, "requires_parent_approval")));
    hresp_free(&r);
    rbefore = credits_of("resell");
    cbefore = credits_of("cust");

    /* even the sub-account's own administrator's order goes to the parent first */
    snprintf(id, sizeof(id), "%s", order_as(C_ADM, NULL, "a.c.r.example.com", 201));
    expect_status(id, "pending_parent_approval");
    expect(act(C_ADM, id, "approve", NULL), 403);
    expect(act(R_ADM, id, "approve", NULL), 200);
    expect_status(id, "awaiting_payment"); /* an admin's order needs no own approval */

    /* a standard user's: parent, then the account's own administrator */
    snprintf(id, sizeof(id), "%s", order_as(C_STD, NULL, "s.c.r.example.com", 201));
    expect_status(id, "pending_parent_approval");
    expect(act(C_STD, id, "pay", NULL), 409);
    expect(act(R_ADM, id, "approve", NULL), 200);
    expect_status(id, "pending_approval");
    expect(act(R_ADM, id, "approve", "{\"comment\":\"as the parent\"}"), 200);
    expect_status(id, "awaiting_payment");
    expect(act(C_STD, id, "pay", NULL), 200);
    expect_status(id, "processing");
    /* the parent paid; both ledgers show the order */
    ck_assert_int_eq(credits_of("resell"), rbefore - 10);
    ck_assert_int_eq(credits_of("cust"), cbefore);
    ck_assert(ledger_has(R_ADM, NULL, id, -10));
    ck_assert(ledger_has(C_ADM, NULL, id, 0));
    ck_assert(ledger_has(R_ADM, "cust", id, 0));
    expect(as(C_ADM, "GET", "/api/v1/ledger?account=resell", NULL), 404);
    /* a cancel refunds the account that was debited */
    expect(act(C_STD, id, "cancel", NULL), 200);
    ck_assert_int_eq(credits_of("resell"), rbefore);
    ck_assert_int_eq(credits_of("cust"), cbefore);
    ck_assert(ledger_has(R_ADM, NULL, id, 10));

    /* three levels: cust bills resell, which bills acme - acme pays */
    expect(as(X_ANN, "PATCH", "/api/v1/accounts/resell", "{\"billing\":\"parent\"}"), 200);
    snprintf(id, sizeof(id), "%s", order_as(R_ADM, "cust", "p.c.r.example.com", 201));
    expect_status(id, "awaiting_payment"); /* placed by the parent: parent-approved */
    rbefore = credits_of("acme");
    expect(act(C_ADM, id, "pay", NULL), 200);
    ck_assert_int_eq(credits_of("acme"), rbefore - 10);
    ck_assert(ledger_has(X_ANN, NULL, id, -10));
    ck_assert(ledger_has(C_ADM, NULL, id, 0));
}
END_TEST

/* A sub-account that bills its parent cannot set up a grandchild that spends
 * the grandparent's credits: only an administrator of the account that pays
 * may loosen the rules (a review finding). */
START_TEST(grandchild_cannot_spend_the_grandparents_credits)
{
    hresp r;

    /* one request is all or nothing: a bad allowlist leaves billing as it was */
    r = as(R_ADM, "PATCH", "/api/v1/accounts/cust",
           "{\"billing\":\"parent\",\"ip_allowlist\":[\"bogus\"]}");
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(jstr(&r, "field"), "ip_allowlist");
    hresp_free(&r);
    r = as(R_ADM, "GET", "/api/v1/accounts/cust", NULL);
    ck_assert_str_eq(jstr(&r, "billing"), "prepaid");
    hresp_free(&r);
    expect(as(R_ADM, "PATCH", "/api/v1/accounts/cust", "{\"billing\":\"parent\"}"), 200);
    expect(as(C_ADM, "POST", "/api/v1/accounts",
              "{\"name\":\"grand\",\"admin\":{\"name\":\"gadm\",\"password\":\"gadm-password\"}}"),
           201);
    /* resell would pay: cust's administrator may not make grand bill upwards */
    r = as(C_ADM, "PATCH", "/api/v1/accounts/grand", "{\"billing\":\"parent\"}");
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(jstr(&r, "field"), "billing");
    hresp_free(&r);
    r = as(C_ADM, "GET", "/api/v1/accounts/grand", NULL);
    ck_assert_str_eq(jstr(&r, "billing"), "prepaid"); /* nothing changed */
    hresp_free(&r);
    /* grand pays for itself: skipping parent approval is cust's own business */
    expect(as(C_ADM, "PATCH", "/api/v1/accounts/grand",
              "{\"requires_parent_approval\":false,\"auto_policy\":true}"),
           200);
    expect(as(C_ADM, "PATCH", "/api/v1/accounts/grand",
              "{\"requires_parent_approval\":true,\"auto_policy\":false}"),
           200);
    /* resell's administrator, whose credits these are, may */
    expect(as(R_ADM, "PATCH", "/api/v1/accounts/grand", "{\"billing\":\"parent\"}"), 200);
    /* ...and then cust's administrator cannot loosen approval on resell's money */
    expect(as(C_ADM, "PATCH", "/api/v1/accounts/grand", "{\"requires_parent_approval\":false}"),
           403);
    expect(as(C_ADM, "PATCH", "/api/v1/accounts/grand", "{\"auto_policy\":true}"), 403);
    r = as(R_ADM, "GET", "/api/v1/accounts/grand", NULL);
    ck_assert(json_is_true(json_object_get(r.json, "requires_parent_approval")));
    ck_assert(json_is_false(json_object_get(r.json, "auto_policy")));
    hresp_free(&r);
    /* with cust paying its own way again, cust's administrator decides for grand */
    expect(as(R_ADM, "PATCH", "/api/v1/accounts/cust", "{\"billing\":\"prepaid\"}"), 200);
    expect(as(C_ADM, "PATCH", "/api/v1/accounts/grand", "{\"requires_parent_approval\":false}"),
           200);
}
END_TEST

START_TEST(order_for_a_customer_and_rejection)
{
    char id[32];
    hresp r;

    r = as(R_ADM, "POST", "/api/v1/orders",
           "{\"product\":\"dv-ssl\",\"common_name\":\"w.c.r.example.com\",\"account\":\"cust\"}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(jstr(&r, "account"), "cust");
    ck_assert_str_eq(jstr(&r, "requester"), "radm");
    ck_assert_str_eq(jstr(&r, "status"), "awaiting_payment");
    hresp_free(&r);
    /* the names must be the customer's: resell's own name is not */
    order_as(R_ADM, "cust", "x.r.example.com", 403);
    /* a parent's own order for a name it delegated: no longer its to order */
    order_as(R_ADM, NULL, "c.r.example.com", 403);
    /* a customer never orders for its parent or a stranger */
    order_as(C_ADM, "resell", "x.r.example.com", 404);
    order_as(C_ADM, "other", "x.other.org", 404);
    order_as(R_STD, "cust", "w.c.r.example.com", 404);
    /* the grandparent may order for the customer too */
    order_as(X_ANN, "cust", "g.c.r.example.com", 201);

    /* the parent's rejection and its reason reach the customer's requester */
    snprintf(id, sizeof(id), "%s", order_as(C_BAS, NULL, "b.c.r.example.com", 201));
    expect(act(R_ADM, id, "reject", NULL), 400);
    expect(act(R_ADM, id, "reject", "{\"reason\":\"over budget this month\"}"), 200);
    r = as(C_BAS, "GET", "/api/v1/orders?status=rejected", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "orders")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r.json, "orders"), 0), "rejection_reason")),
                     "over budget this month");
    hresp_free(&r);
}
END_TEST

static size_t orders_listed(int who, const char *query)
{
    char path[128];
    size_t n;
    hresp r;

    snprintf(path, sizeof(path), "/api/v1/orders%s", query);
    r = as(who, "GET", path, NULL);
    ck_assert_msg(r.status == 200, "%s %s: %d", pname[who], path, r.status);
    n = json_array_size(json_object_get(r.json, "orders"));
    hresp_free(&r);
    return n;
}

START_TEST(visibility_and_lists)
{
    hresp r;

    order_as(C_BAS, NULL, "v1.c.r.example.com", 201);
    order_as(R_STD, NULL, "v2.r.example.com", 201);
    order_as(X_SAM, NULL, "v3.example.com", 201);
    /* an administrator sees its own account and every one below */
    ck_assert_int_eq(orders_listed(X_ANN, ""), 3);
    ck_assert_int_eq(orders_listed(R_ADM, ""), 2);
    ck_assert_int_eq(orders_listed(C_ADM, ""), 1);
    ck_assert_int_eq(orders_listed(R_STD, ""), 1); /* a standard user: own account only */
    ck_assert_int_eq(orders_listed(X_ANN, "?account=cust"), 1);
    ck_assert_int_eq(orders_listed(X_ANN, "?account=resell"), 1);
    expect(as(C_ADM, "GET", "/api/v1/orders?account=resell", NULL), 404);
    expect(as(R_STD, "GET", "/api/v1/orders?account=cust", NULL), 404);
    expect(as(X_OSCAR, "GET", "/api/v1/orders?account=cust", NULL), 404);
    /* accounts: a parent lists what is below it; a customer only itself */
    r = as(X_ANN, "GET", "/api/v1/accounts", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "accounts")), 3);
    hresp_free(&r);
    r = as(C_ADM, "GET", "/api/v1/accounts", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "accounts")), 1);
    hresp_free(&r);
    expect(as(C_ADM, "GET", "/api/v1/accounts/resell", NULL), 404);
    expect(as(R_ADM, "GET", "/api/v1/accounts/acme", NULL), 404);
    expect(as(R_ADM, "GET", "/api/v1/accounts/cust", NULL), 200);
    /* users and audit below, read */
    r = as(R_ADM, "GET", "/api/v1/users?account=cust", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "users")), 3);
    hresp_free(&r);
    expect(as(C_ADM, "GET", "/api/v1/users?account=resell", NULL), 404);
    expect(as(R_ADM, "GET", "/api/v1/audit?account=cust", NULL), 200);
    expect(as(C_ADM, "GET", "/api/v1/audit?account=acme", NULL), 404);
}
END_TEST

static char *user_field(int who, const char *account, const char *user, const char *key)
{
    char path[120], *v = NULL;
    json_t *u;
    size_t i;
    hresp r;

    snprintf(path, sizeof(path), "/api/v1/users?account=%s", account);
    r = as(who, "GET", path, NULL);
    ck_assert_int_eq(r.status, 200);
    json_array_foreach(json_object_get(r.json, "users"), i, u)
    {
        if (!strcmp(json_string_value(json_object_get(u, "name")), user)) {
            json_t *x = json_object_get(u, key);
            v = json_is_string(x) ? strdup(json_string_value(x))
                                  : strdup(json_is_true(x) ? "true" : "false");
        }
    }
    hresp_free(&r);
    ck_assert_ptr_nonnull(v);
    return v;
}

static void role_is(const char *account, const char *user, const char *role)
{
    char *v = user_field(X_ANN, account, user, "role");

    ck_assert_str_eq(v, role);
    free(v);
}

/* Parent administrators manage a sub-account's users (role, disabled, 2FA
 * reset), at every level below them, but never set their passwords; a
 * sub-account's administrator cannot reach its parent's or a sibling's users
 * (404), nor can a parent's standard user or an unrelated account. */
START_TEST(parent_admins_edit_child_users)
{
    hresp r;
    char *s;

    expect(as(R_ADM, "POST", "/api/v1/accounts",
              "{\"name\":\"sib\",\"admin\":{\"name\":\"sadm\",\"password\":\"sadm-password\"}}"),
           201);
    /* parent -> child: role, disable, enable; grandparent -> grandchild */
    expect(as(R_ADM, "PATCH", "/api/v1/users/cstd", "{\"role\":\"basic\"}"), 200);
    role_is("cust", "cstd", "basic");
    expect(as(R_ADM, "PATCH", "/api/v1/users/cstd", "{\"disabled\":true}"), 200);
    expect(as(C_STD, "GET", "/api/v1/orders", NULL), 401);
    expect(as(R_ADM, "PATCH", "/api/v1/users/cstd", "{\"disabled\":false}"), 200);
    expect(as(C_STD, "GET", "/api/v1/orders", NULL), 200);
    expect(as(X_ANN, "PATCH", "/api/v1/users/cbas", "{\"role\":\"standard\"}"), 200);
    role_is("cust", "cbas", "standard");
    expect(as(R_ADM, "DELETE", "/api/v1/totp/cstd", NULL), 204);
    /* the change is in the child's audit, by the parent's user */
    r = as(C_ADM, "GET", "/api/v1/audit", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"radm\""));
    ck_assert_ptr_nonnull(strstr(r.body, "cstd; disabled"));
    hresp_free(&r);
    /* never a sub-account user's password, from above */
    r = as(R_ADM, "PATCH", "/api/v1/users/cstd", "{\"password\":\"taken-over-password\"}");
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(jstr(&r, "field"), "password");
    hresp_free(&r);
    /* child -> parent, child -> grandparent, sibling -> sibling: not there */
    expect(as(C_ADM, "PATCH", "/api/v1/users/radm", "{\"role\":\"basic\"}"), 404);
    expect(as(C_ADM, "PATCH", "/api/v1/users/rstd", "{\"disabled\":true}"), 404);
    expect(as(C_ADM, "PATCH", "/api/v1/users/ann", "{\"role\":\"basic\"}"), 404);
    expect(as(C_ADM, "PATCH", "/api/v1/users/sadm", "{\"disabled\":true}"), 404);
    expect(as(C_ADM, "DELETE", "/api/v1/totp/radm", NULL), 404);
    expect(as(C_ADM, "DELETE", "/api/v1/totp/sadm", NULL), 404);
    /* a parent's standard user, an unrelated account's admin: not there either */
    expect(as(R_STD, "PATCH", "/api/v1/users/cstd", "{\"role\":\"admin\"}"), 403);
    expect(as(X_OSCAR, "PATCH", "/api/v1/users/cstd", "{\"role\":\"admin\"}"), 404);
    expect(as(X_OSCAR, "DELETE", "/api/v1/totp/cstd", NULL), 404);
    /* none of the refused changes happened */
    role_is("resell", "radm", "admin");
    role_is("acme", "ann", "admin");
    role_is("sib", "sadm", "admin");
    s = user_field(X_ANN, "resell", "rstd", "disabled");
    ck_assert_str_eq(s, "false");
    free(s);
    role_is("cust", "cstd", "basic");
}
END_TEST

/* A token for user name (any account), for people beyond the enum. */
static char *token_of(const char *name)
{
    cin_user u;
    char *t = NULL;

    ck_assert_int_eq(cin_store_user_get(F->st, name, &u), CIN_OK);
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_token_create(F->st, u.id, "t", 0, &t, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    cin_user_clear(&u);
    return t;
}

static hresp with(const char *token, const char *method, const char *path, const char *body)
{
    char auth[300];
    const char *h[] = {auth, NULL};

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    return call(F, -1, method, path, body, h);
}

static long events_in(const char *account, const char *action)
{
    char sql[300], *out;
    long n;

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM order_events e JOIN accounts a ON a.id = e.account_id"
             " WHERE a.name = '%s' AND e.action = '%s'",
             account, action);
    out = store_query(F, sql);
    n = atol(out);
    free(out);
    return n;
}

/* Re-parenting: cycles, permissions and delegated names refused and nothing
 * changed; then cust2 (with a customer of its own, an order waiting for its
 * parent, billed to the parent) moves from resell to resell2: visibility,
 * the pending approval and billing follow the new parent, the rules start
 * over, and the account and both parents audit it. */
START_TEST(move_a_sub_account)
{
    char id[32], *r2, *c2, *cmd, *out;
    const char *cli = getenv("CIN_CLI") ? getenv("CIN_CLI") : "build/certinext";
    long long before;
    hresp r;

    expect(
        as(X_ANN, "POST", "/api/v1/accounts",
           "{\"name\":\"resell2\",\"admin\":{\"name\":\"r2adm\",\"password\":\"r2adm-password\"}}"),
        201);
    expect(
        as(R_ADM, "POST", "/api/v1/accounts",
           "{\"name\":\"cust2\",\"admin\":{\"name\":\"c2adm\",\"password\":\"c2adm-password\"}}"),
        201);
    expect(as(X_ANN, "POST", "/api/v1/accounts",
              "{\"name\":\"gc\",\"parent\":\"cust2\",\"admin\":{\"name\":\"gcadm\",\"password\":"
              "\"gcadm-password\"}}"),
           201);
    r2 = token_of("r2adm");
    c2 = token_of("c2adm");
    expect(
        as(X_ANN, "POST", "/api/v1/domains", "{\"name\":\"z.example.com\",\"account\":\"cust2\"}"),
        201);
    expect(as(R_ADM, "PATCH", "/api/v1/accounts/cust2", "{\"billing\":\"parent\"}"), 200);
    r = with(c2, "POST", "/api/v1/orders",
             "{\"product\":\"dv-ssl\",\"common_name\":\"z.example.com\"}");
    ck_assert_int_eq(r.status, 201);
    snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
    hresp_free(&r);
    expect_status(id, "pending_parent_approval");

    /* cycles: below itself, itself; the same parent */
    r = as(X_ANN, "POST", "/api/v1/accounts/resell/move", "{\"parent\":\"cust\"}");
    ck_assert_int_eq(r.status, 409);
    ck_assert_str_eq(jstr(&r, "field"), "parent");
    hresp_free(&r);
    expect(as(X_ANN, "POST", "/api/v1/accounts/cust2/move", "{\"parent\":\"gc\"}"), 409);
    expect(as(R_ADM, "POST", "/api/v1/accounts/cust/move", "{\"parent\":\"cust\"}"), 409);
    expect(as(R_ADM, "POST", "/api/v1/accounts/cust2/move", "{\"parent\":\"resell\"}"), 409);
    /* who may: not the account itself, nor below, nor a standard user, nor a stranger;
     * a reseller only within what it sees */
    expect(as(C_ADM, "POST", "/api/v1/accounts/cust/move", "{\"parent\":\"acme\"}"), 403);
    expect(as(C_ADM, "POST", "/api/v1/accounts/resell/move", "{\"parent\":\"cust\"}"), 404);
    expect(as(R_STD, "POST", "/api/v1/accounts/cust2/move", "{\"parent\":\"resell2\"}"), 403);
    expect(as(X_OSCAR, "POST", "/api/v1/accounts/cust2/move", "{\"parent\":\"other\"}"), 404);
    expect(as(R_ADM, "POST", "/api/v1/accounts/cust2/move", "{\"parent\":\"resell2\"}"), 404);
    expect(as(X_ANN, "POST", "/api/v1/accounts/cust2/move", "{}"), 400);
    /* cust holds c.r.example.com by delegation from resell: it cannot leave with it */
    r = as(X_ANN, "POST", "/api/v1/accounts/cust/move", "{\"parent\":\"resell2\"}");
    ck_assert_int_eq(r.status, 409);
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "c.r.example.com"));
    hresp_free(&r);
    expect(as(R_ADM, "GET", "/api/v1/accounts/cust", NULL), 200);
    ck_assert_int_eq(events_in("cust", "account.move"), 0);

    /* the move */
    r = as(X_ANN, "POST", "/api/v1/accounts/cust2/move", "{\"parent\":\"resell2\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "parent"), "resell2");
    ck_assert_str_eq(jstr(&r, "billing"), "prepaid"); /* the rules start over */
    ck_assert(json_is_true(json_object_get(r.json, "requires_parent_approval")));
    hresp_free(&r);
    /* visibility follows, down to the customer's customer */
    expect(as(R_ADM, "GET", "/api/v1/accounts/cust2", NULL), 404);
    expect(as(R_ADM, "GET", "/api/v1/accounts/gc", NULL), 404);
    expect(with(r2, "GET", "/api/v1/accounts/gc", NULL), 200);
    expect(as(R_ADM, "GET", "/api/v1/orders?account=cust2", NULL), 404);
    /* the order waiting for the old parent waits for the new one */
    expect(act(R_ADM, id, "approve", NULL), 404);
    expect_status(id, "pending_parent_approval");
    r = with(r2, "GET", "/api/v1/orders?account=cust2", NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "orders")), 1);
    hresp_free(&r);
    {
        char path[80];
        snprintf(path, sizeof(path), "/api/v1/orders/%s/approve", id);
        expect(with(r2, "POST", path, NULL), 200);
        expect_status(id, "awaiting_payment");
        /* billing to the parent is the new parent's decision; then it pays */
        expect(with(r2, "PATCH", "/api/v1/accounts/cust2", "{\"billing\":\"parent\"}"), 200);
        expect(as(X_ANN, "POST", "/api/v1/accounts/resell2/credits", "{\"amount\":50}"), 200);
        before = credits_of("resell");
        snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
        expect(with(c2, "POST", path, NULL), 200);
        ck_assert_int_eq(credits_of("resell2"), 40);
        ck_assert_int_eq(credits_of("resell"), before);
    }
    /* the audit of the account and of both parents; the order's history */
    ck_assert_int_eq(events_in("cust2", "account.move"), 1);
    ck_assert_int_eq(events_in("resell", "account.move_out"), 1);
    ck_assert_int_eq(events_in("resell2", "account.move_in"), 1);
    ck_assert_int_eq(events_in("cust2", "order.parent_changed"), 1);
    r = as(R_ADM, "GET", "/api/v1/audit", NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "cust2 moved from resell to resell2"));
    hresp_free(&r);

    /* the provider's CLI: back under resell; a cycle refused with its message */
    cmd = cin_asprintf("%s account move gc --parent gc %s 2>&1", cli, F->cli_args);
    ck_assert_int_ne(run(cmd, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "cannot move below itself"));
    free(out);
    free(cmd);
    cmd = cin_asprintf("%s account move cust2 --parent resell %s 2>&1", cli, F->cli_args);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "moved under resell"));
    free(out);
    free(cmd);
    expect(as(R_ADM, "GET", "/api/v1/accounts/gc", NULL), 200);
    expect(with(r2, "GET", "/api/v1/accounts/cust2", NULL), 404);
    free(r2);
    free(c2);
}
END_TEST

/* The depth limit sub-accounts are made under holds for moves too, for every
 * account of the moved subtree: m1 (with its child m2) cannot go where m2
 * alone can. */
START_TEST(move_keeps_the_depth_limit)
{
    cin_problem p = {0};
    char prev[32] = "acme", name[32], parent_of_deepest[32] = "", body[80];
    int i, rc = CIN_OK;

    for (i = 0; i < 200 && rc == CIN_OK; i++) {
        snprintf(name, sizeof(name), "d%d", i);
        rc = cin_account_create_sub(F->st, NULL, name, prev, NULL, NULL, NULL, &p);
        if (rc == CIN_OK) {
            snprintf(parent_of_deepest, sizeof(parent_of_deepest), "%s", prev);
            snprintf(prev, sizeof(prev), "%s", name);
        }
    }
    ck_assert_int_eq(rc, CIN_ECONFLICT); /* the limit was reached */
    cin_problem_clear(&p);
    ck_assert_int_eq(cin_account_create_sub(F->st, NULL, "m1", "acme", NULL, NULL, NULL, &p),
                     CIN_OK);
    ck_assert_int_eq(cin_account_create_sub(F->st, NULL, "m2", "m1", NULL, NULL, NULL, &p), CIN_OK);
    snprintf(body, sizeof(body), "{\"parent\":\"%s\"}", parent_of_deepest);
    expect(as(X_ANN, "POST", "/api/v1/accounts/m1/move", body), 409);
    expect(as(X_ANN, "POST", "/api/v1/accounts/m2/move", body), 200);
}
END_TEST

/* A sub-account claims (issue 14's claims) only names within its ancestors'
 * domains; the parent's own domain is delegated, never claimed. */
START_TEST(sub_accounts_claim_within_the_parents_domains)
{
    expect(as(C_ADM, "POST", "/api/v1/domains", "{\"name\":\"z.r.example.com\"}"), 201);
    expect(as(C_ADM, "POST", "/api/v1/domains", "{\"name\":\"r.example.com\"}"), 409);
    expect(as(C_ADM, "POST", "/api/v1/domains", "{\"name\":\"elsewhere.org\"}"), 403);
    expect(as(R_ADM, "POST", "/api/v1/domains", "{\"name\":\"elsewhere.org\"}"), 403);
}
END_TEST

START_TEST(domains_and_credits)
{
    int64_t owner = 0;
    cin_account a;

    /* the most specific assignment owns a name */
    ck_assert_int_eq(cin_store_domain_owner(F->st, "x.c.r.example.com", &owner), CIN_OK);
    ck_assert_int_eq(cin_store_account_get(F->st, "cust", &a), CIN_OK);
    ck_assert_int_eq(owner, a.id);
    cin_account_clear(&a);
    ck_assert_int_eq(cin_store_domain_owner(F->st, "x.r.example.com", &owner), CIN_OK);
    ck_assert_int_eq(cin_store_account_get(F->st, "resell", &a), CIN_OK);
    ck_assert_int_eq(owner, a.id);
    cin_account_clear(&a);
    /* delegation only of one's own, only downwards */
    expect(as(R_ADM, "POST", "/api/v1/domains", "{\"name\":\"x.other.org\",\"account\":\"cust\"}"),
           403);
    expect(
        as(R_ADM, "POST", "/api/v1/domains", "{\"name\":\"y.example.com\",\"account\":\"cust\"}"),
        403);
    expect(
        as(X_ANN, "POST", "/api/v1/domains", "{\"name\":\"z.example.com\",\"account\":\"other\"}"),
        404);
    expect(
        as(C_ADM, "POST", "/api/v1/domains", "{\"name\":\"z.r.example.com\",\"account\":\"cust\"}"),
        403);
    expect(
        as(R_STD, "POST", "/api/v1/domains", "{\"name\":\"z.r.example.com\",\"account\":\"cust\"}"),
        403);
    /* the provider (CLI) refuses only unrelated accounts */
    {
        cin_problem p = {0};
        cin_actor cli = {NULL, "cli", NULL};
        ck_assert_int_eq(cin_account_domain_add(F->st, &cli, "cust", "d.example.com", &p), CIN_OK);
        ck_assert_int_ne(cin_account_domain_add(F->st, &cli, "cust", "d.other.org", &p), CIN_OK);
        ck_assert_int_eq(p.status, 409);
        cin_problem_clear(&p);
    }
    /* credits: positive, downwards, never more than there is */
    expect(as(R_ADM, "POST", "/api/v1/accounts/cust/credits", "{\"amount\":0}"), 400);
    expect(as(R_ADM, "POST", "/api/v1/accounts/cust/credits", "{\"amount\":-5}"), 400);
    expect(as(R_ADM, "POST", "/api/v1/accounts/acme/credits", "{\"amount\":5}"), 404);
    expect(as(R_ADM, "POST", "/api/v1/accounts/resell/credits", "{\"amount\":5}"), 400);
    expect(as(C_ADM, "POST", "/api/v1/accounts/cust/credits", "{\"amount\":5}"), 400);
    expect(as(R_STD, "POST", "/api/v1/accounts/cust/credits", "{\"amount\":5}"), 403);
    expect(as(R_ADM, "POST", "/api/v1/accounts/cust/credits", "{\"amount\":201}"), 402);
    ck_assert_int_eq(credits_of("resell"), 200);
    ck_assert_int_eq(credits_of("cust"), 100);
    /* the grandparent may fund the customer directly */
    expect(as(X_ANN, "POST", "/api/v1/accounts/cust/credits", "{\"amount\":7}"), 200);
    ck_assert_int_eq(credits_of("cust"), 107);
    /* a customer never creates accounts above or beside itself */
    expect(as(C_STD, "POST", "/api/v1/accounts",
              "{\"name\":\"sub\",\"admin\":{\"name\":\"subadm\",\"password\":\"sub-password\"}}"),
           403);
    expect(as(C_ADM, "POST", "/api/v1/accounts",
              "{\"name\":\"sib\",\"parent\":\"resell\",\"admin\":{\"name\":\"sibadm\","
              "\"password\":\"sib-password\"}}"),
           404);
}
END_TEST

START_TEST(policy_for_automatic_ordering)
{
    cin_account r, c, top;
    cin_problem p = {0};
    cin_actor cli = {NULL, "cli", NULL};

    ck_assert_int_eq(cin_store_account_get(F->st, "acme", &top), CIN_OK);
    ck_assert_int_eq(cin_store_account_get(F->st, "resell", &r), CIN_OK);
    ck_assert_int_eq(cin_store_account_get(F->st, "cust", &c), CIN_OK);
    ck_assert_int_eq(cin_account_policy_allows(F->st, top.id, CIN_POLICY_AUTO_RENEW), 1);
    ck_assert_int_eq(cin_account_policy_allows(F->st, c.id, CIN_POLICY_AUTO_RENEW), 0);
    /* neither parent approval nor parent billing: allowed */
    ck_assert_int_eq(cin_account_set_rules(F->st, &cli, "cust", 0, NULL, -1, &p), CIN_OK);
    ck_assert_int_eq(cin_account_policy_allows(F->st, c.id, CIN_POLICY_AUTOSSL), 1);
    ck_assert_int_eq(cin_account_set_rules(F->st, &cli, "cust", -1, "parent", -1, &p), CIN_OK);
    ck_assert_int_eq(cin_account_policy_allows(F->st, c.id, CIN_POLICY_AUTO_PAY), 0);
    /* the parent's policy */
    expect(as(R_ADM, "PATCH", "/api/v1/accounts/cust", "{\"auto_policy\":true}"), 200);
    ck_assert_int_eq(cin_account_policy_allows(F->st, c.id, CIN_POLICY_AUTO_PAY), 1);
    ck_assert_int_eq(cin_account_policy_allows(F->st, r.id, CIN_POLICY_AUTO_RENEW), 0);
    /* a top-level account has no parent to set rules */
    ck_assert_int_ne(cin_account_set_rules(F->st, &cli, "acme", 0, NULL, -1, &p), CIN_OK);
    ck_assert_int_eq(p.status, 409);
    cin_problem_clear(&p);
    cin_account_clear(&top);
    cin_account_clear(&r);
    cin_account_clear(&c);
}
END_TEST

/* An automatic renewal in a sub-account without the parent's policy waits
 * for the parent; with it, it is charged to the payer at once. */
START_TEST(auto_renew_waits_for_the_parent)
{
    char id[32], sql[200], *out;
    cin_order o;
    cin_problem p = {0};
    cin_actor agent = {NULL, "agent", NULL};
    hresp r;

    r = as(R_ADM, "POST", "/api/v1/orders",
           "{\"product\":\"dv-ssl\",\"common_name\":\"ar.c.r.example.com\",\"account\":\"cust\","
           "\"auto_renew\":true}");
    ck_assert_int_eq(r.status, 201);
    snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
    hresp_free(&r);
    expect(act(C_ADM, id, "pay", NULL), 200);
    agent_pass(F);
    expect_status(id, "issued");
    ck_assert_int_eq(cin_order_renew_auto(F->st, &agent, cin_order_parse_id(id), &o, &p), CIN_OK);
    ck_assert_str_eq(o.status, "pending_parent_approval");
    ck_assert_int_eq(o.order_number, 0);
    cin_order_clear(&o);
    /* while it waits, it is the open renewal: no second one */
    {
        char path[96];
        snprintf(path, sizeof(path), "/api/v1/orders/%s/renew", id);
        expect(as(C_ADM, "POST", path, NULL), 409);
    }
    snprintf(sql, sizeof(sql), "UPDATE orders SET status = 'cancelled' WHERE parent_id = %lld",
             (long long)cin_order_parse_id(id));
    free(store_query(F, sql));
    expect(as(R_ADM, "PATCH", "/api/v1/accounts/cust",
              "{\"auto_policy\":true,\"billing\":\"parent\"}"),
           200);
    ck_assert_int_eq(cin_order_renew_auto(F->st, &agent, cin_order_parse_id(id), &o, &p), CIN_OK);
    ck_assert_str_eq(o.status, "processing");
    ck_assert_int_eq(credits_of("resell"), 190);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM ledger WHERE order_id = %lld",
             (long long)o.id);
    out = store_query(F, sql);
    ck_assert_int_eq(atoi(out), 2);
    free(out);
    cin_order_clear(&o);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("account_tree");
    TCase *tc = tcase_create("account_tree");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, matrix_with_parents, 0, 8);
    tcase_add_test(tc, parent_approval_then_child_then_parent_pays);
    tcase_add_test(tc, grandchild_cannot_spend_the_grandparents_credits);
    tcase_add_test(tc, order_for_a_customer_and_rejection);
    tcase_add_test(tc, visibility_and_lists);
    tcase_add_test(tc, parent_admins_edit_child_users);
    tcase_add_test(tc, move_a_sub_account);
    tcase_add_test(tc, move_keeps_the_depth_limit);
    tcase_add_test(tc, domains_and_credits);
    tcase_add_test(tc, sub_accounts_claim_within_the_parents_domains);
    tcase_add_test(tc, policy_for_automatic_ordering);
    tcase_add_test(tc, auto_renew_waits_for_the_parent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
