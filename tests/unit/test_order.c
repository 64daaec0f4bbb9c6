/*
 * test_order.c - the order workflow through cin_http_handle(): the full
 * transition matrix, the seed scenario, EV consent, visibility, domains,
 * concurrent payment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "cin_agent.h"
#include "cin_ca.h"
#include "cin_order.h"
#include "cin_util.h"
#include "cin_x509.h"
#include "harness.h"

static fixture *F;

static void setup(void)
{
    F = fixture_new();
}

static void teardown(void)
{
    fixture_free(F);
    F = NULL;
}

static hresp post(int u, const char *id, const char *action, const char *body)
{
    char path[128];

    snprintf(path, sizeof(path), "/api/v1/orders/%s/%s", id, action);
    return call(F, u, "POST", path, body, NULL);
}

static void expect_status(const char *id, const char *want)
{
    char *s = order_status(F, id);

    ck_assert_msg(!strcmp(s, want), "order %s is %s, expected %s", id, s, want);
    free(s);
}

/* Force an order into a status (to build states the matrix needs). */
static void force(const char *id, const char *status, const char *key_source)
{
    cin_order o;

    ck_assert_int_eq(cin_store_order_get(F->st, cin_order_parse_id(id), &o), CIN_OK);
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    free(o.status);
    o.status = strdup(status);
    if (!strcmp(status, "failed")) {
        free(o.error_json);
        o.error_json = strdup("{\"type\":\"urn:x\",\"detail\":\"forced\"}");
    }
    ck_assert_int_eq(cin_store_order_update(F->st, &o), CIN_OK);
    if (key_source) {
        /* key_source is fixed at creation; the test store lets us change it */
        char sql[256];
        snprintf(sql, sizeof(sql), "UPDATE orders SET key_source='%s', csr_pem=NULL WHERE id=%lld",
                 key_source, (long long)o.id);
        ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
        free(store_query(F, sql));
    } else {
        ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    }
    cin_order_clear(&o);
}

static char *csr_for(const char *names_csv)
{
    char *key = NULL, *csr = NULL, *copy = strdup(names_csv), *save = NULL, *tok;
    char *names[16];
    size_t n = 0;

    for (tok = strtok_r(copy, ",", &save); tok && n < 16; tok = strtok_r(NULL, ",", &save))
        names[n++] = tok;
    ck_assert_int_eq(cin_key_generate("ec-p256", &key), CIN_OK);
    ck_assert_int_eq(cin_csr_build(key, names, n, &csr), CIN_OK);
    cin_free_secret(key, strlen(key));
    free(copy);
    return csr;
}

/* ---- the transition matrix ------------------------------------------------ */

static const char *const all_statuses[] = {
    "pending_approval", "pending_signatory", "awaiting_payment", "pending_csr", "processing",
    "issued",           "rejected",          "cancelled",        "failed",      "revoked",
    "expired",          "superseded",
};

/* Build an order of bob's (basic) in the given status, through the API where
 * the workflow reaches it, by force otherwise. */
static const char *order_in(const char *status)
{
    static char id[32];
    hresp r;

    if (!strcmp(status, "pending_signatory")) {
        snprintf(id, sizeof(id), "%s",
                 order_new(F, U_BASIC, "ev-ssl", "[\"ev.example.com\",\"www.example.com\"]"));
        r = post(U_ADMIN, id, "approve", NULL);
        ck_assert_int_eq(r.status, 200);
        hresp_free(&r);
        expect_status(id, "pending_signatory");
        return id;
    }
    snprintf(id, sizeof(id), "%s",
             order_new(F, U_BASIC, "dv-multi", "[\"m.example.com\",\"www.example.com\"]"));
    if (!strcmp(status, "pending_approval"))
        return id;
    if (!strcmp(status, "rejected")) {
        r = post(U_ADMIN, id, "reject", "{\"reason\":\"not now\"}");
        ck_assert_int_eq(r.status, 200);
        hresp_free(&r);
        return id;
    }
    if (!strcmp(status, "pending_csr")) {
        force(id, "pending_csr", "csr");
        return id;
    }
    r = post(U_ADMIN, id, "approve", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    if (!strcmp(status, "awaiting_payment"))
        return id;
    if (!strcmp(status, "cancelled")) {
        r = post(U_BASIC, id, "cancel", NULL);
        ck_assert_int_eq(r.status, 200);
        hresp_free(&r);
        return id;
    }
    r = post(U_BASIC, id, "pay", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    if (!strcmp(status, "processing"))
        return id;
    if (!strcmp(status, "failed")) {
        force(id, "failed", NULL);
        return id;
    }
    agent_pass(F);
    expect_status(id, "issued");
    if (!strcmp(status, "issued"))
        return id;
    if (!strcmp(status, "revoked")) {
        r = post(U_ADMIN, id, "revoke", "{\"reason\":\"superseded\"}");
        ck_assert_int_eq(r.status, 200);
        hresp_free(&r);
        return id;
    }
    if (!strcmp(status, "superseded")) {
        /* a reissue goes live: the original is replaced */
        char rid[32];
        r = post(U_ADMIN, id, "reissue", NULL);
        ck_assert_int_eq(r.status, 201);
        snprintf(rid, sizeof(rid), "%s", jstr(&r, "id"));
        hresp_free(&r);
        r = post(U_ADMIN, rid, "pay", NULL);
        ck_assert_int_eq(r.status, 200);
        hresp_free(&r);
        agent_pass(F);
        expect_status(rid, "issued");
        expect_status(id, "superseded");
        return id;
    }
    force(id, status, NULL); /* expired */
    return id;
}

/* The oracle: written out here independently of the core's table. */
static int in(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return 1;
    return 0;
}

static int expected_code(const char *action, const char *status, int u)
{
    static const char *const before_issue[] = {
        "pending_approval", "pending_signatory", "awaiting_payment", "pending_csr", "failed", NULL};
    static const char *const cancellable[] = {"pending_approval",
                                              "pending_signatory",
                                              "awaiting_payment",
                                              "pending_csr",
                                              "failed",
                                              "processing",
                                              NULL};
    static const char *const has_cert[] = {"issued", "expired", "revoked", NULL};
    static const char *const renewable[] = {"issued", "expired", NULL};
    int admin = u == U_ADMIN || u == U_ADMIN2, requester = u == U_BASIC;
    int csr_order = !strcmp(status, "pending_csr");

    if (u == U_BASIC2 || u == U_OTHER_ADMIN)
        return 404; /* may not see bob's order */
    if (!strcmp(action, "approve") || !strcmp(action, "reject")) {
        if (!admin)
            return 403;
        return !strcmp(status, "pending_approval") ? 200 : 409;
    }
    if (!strcmp(action, "signatory_approve") || !strcmp(action, "signatory_reject")) {
        if (u != U_SIGNATORY)
            return 403;
        return !strcmp(status, "pending_signatory") ? 200 : 409;
    }
    if (!strcmp(action, "download"))
        return in(status, has_cert) ? 200 : 409;
    if (!strcmp(action, "key")) {
        if (!admin)
            return 403;
        return in(status, has_cert) && !csr_order ? 200 : 409;
    }
    if (!strcmp(action, "retry")) {
        if (!admin)
            return 403;
        return !strcmp(status, "failed") ? 200 : 409;
    }
    if (!admin && !requester)
        return 403;
    if (!strcmp(action, "pay"))
        return !strcmp(status, "awaiting_payment") ? 200 : 409;
    if (!strcmp(action, "csr"))
        return in(status, before_issue) && csr_order ? 200 : 409;
    if (!strcmp(action, "cancel"))
        return in(status, cancellable) ? 200 : 409;
    if (!strcmp(action, "renew"))
        return in(status, renewable) ? 201 : 409;
    if (!strcmp(action, "reissue") || !strcmp(action, "sans"))
        return !strcmp(status, "issued") ? 201 : 409;
    if (!strcmp(action, "revoke"))
        return !strcmp(status, "issued") ? 200 : 409;
    ck_abort_msg("no oracle for %s", action);
    return 0;
}

static const char *expected_after(const char *action, const char *status)
{
    if (!strcmp(action, "approve") || !strcmp(action, "signatory_approve"))
        return "awaiting_payment";
    if (!strcmp(action, "reject") || !strcmp(action, "signatory_reject"))
        return "rejected";
    if (!strcmp(action, "pay") || !strcmp(action, "retry") || !strcmp(action, "csr"))
        return "processing";
    if (!strcmp(action, "cancel"))
        return "cancelled";
    if (!strcmp(action, "revoke"))
        return "revoked";
    return status; /* download, key, renew, reissue, sans leave it alone */
}

static hresp do_action(int u, const char *id, const char *action)
{
    char path[160], *body = NULL;
    hresp r;

    if (!strcmp(action, "download") || !strcmp(action, "key")) {
        snprintf(path, sizeof(path), "/api/v1/orders/%s/%s", id,
                 !strcmp(action, "download") ? "certificate" : "key");
        return call(F, u, "GET", path, NULL, NULL);
    }
    if (!strcmp(action, "csr")) {
        char *csr = csr_for("m.example.com,www.example.com"), *q = json_quote(csr);
        body = cin_asprintf("{\"csr\":%s}", q);
        snprintf(path, sizeof(path), "/api/v1/orders/%s/csr", id);
        r = call(F, u, "PUT", path, body, NULL);
        free(csr);
        free(q);
        free(body);
        return r;
    }
    if (!strcmp(action, "signatory_approve"))
        return post(u, id, "signatory/approve", NULL);
    if (!strcmp(action, "signatory_reject"))
        return post(u, id, "signatory/reject", "{\"reason\":\"no consent\"}");
    if (!strcmp(action, "reject"))
        return post(u, id, "reject", "{\"reason\":\"not now\"}");
    if (!strcmp(action, "revoke"))
        return post(u, id, "revoke", "{\"reason\":\"superseded\"}");
    if (!strcmp(action, "sans"))
        return post(u, id, "sans", "{\"add\":[\"extra.example.com\"]}");
    return post(u, id, action, NULL);
}

/* The stored row and the table sizes, to prove that a refusal changed nothing. */
static char *snapshot(const char *id)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd),
             "SELECT * FROM orders WHERE id=%lld; SELECT count(*) FROM orders; "
             "SELECT count(*) FROM ledger; SELECT count(*) FROM order_events; SELECT credits "
             "FROM accounts ORDER BY id; SELECT count(*) FROM certificates; SELECT count(*) FROM "
             "certificates WHERE status = 'active'",
             (long long)cin_order_parse_id(id));
    return store_query(F, cmd);
}

static void matrix_for_action(const char *action)
{
    static const int roles[] = {U_ADMIN, U_STANDARD, U_BASIC, U_BASIC2, U_SIGNATORY, U_OTHER_ADMIN};
    size_t si, ri;

    for (si = 0; si < sizeof(all_statuses) / sizeof(all_statuses[0]); si++) {
        for (ri = 0; ri < sizeof(roles) / sizeof(roles[0]); ri++) {
            const char *status = all_statuses[si];
            int u = roles[ri], want = expected_code(action, status, u);
            char id[32], *before, *after;
            hresp r;

            snprintf(id, sizeof(id), "%s", order_in(status));
            before = snapshot(id);
            r = do_action(u, id, action);
            ck_assert_msg(r.status == want, "%s by %s on %s: got %d, expected %d (%s)", action,
                          F->name[u], status, r.status, want, r.body ? r.body : "");
            if (want >= 400) {
                /* a refusal is a problem+json and changes nothing */
                ck_assert_str_eq(r.ctype, "application/problem+json");
                ck_assert_int_eq(json_integer_value(json_object_get(r.json, "status")), want);
                after = snapshot(id);
                ck_assert_msg(!strcmp(before, after), "%s by %s on %s changed the store", action,
                              F->name[u], status);
                free(after);
            } else if (want == 201) {
                ck_assert_ptr_nonnull(jstr(&r, "id"));
                ck_assert_str_ne(jstr(&r, "id"), id);
                ck_assert_str_eq(json_string_value(json_object_get(r.json, "parent")), id);
                ck_assert_str_eq(jstr(&r, "status"),
                                 u == U_ADMIN ? "awaiting_payment" : "pending_approval");
                expect_status(id, status);
            } else {
                expect_status(id, expected_after(action, status));
                if (r.json)
                    ck_assert_str_eq(jstr(&r, "status"), expected_after(action, status));
            }
            hresp_free(&r);
            free(before);
        }
    }
}

START_TEST(matrix)
{
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

    matrix_for_action(actions[_i]);
}
END_TEST

/* The `actions` list each order shows agrees with what the endpoints allow. */
START_TEST(actions_list_matches_endpoints)
{
    static const int roles[] = {U_ADMIN, U_STANDARD, U_BASIC, U_SIGNATORY};
    static const char *const actions[] = {"approve",
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
                                          "retry"};
    size_t si, ri, ai;

    for (si = 0; si < sizeof(all_statuses) / sizeof(all_statuses[0]); si++) {
        char id[32], path[64];
        snprintf(id, sizeof(id), "%s", order_in(all_statuses[si]));
        snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
        for (ri = 0; ri < sizeof(roles) / sizeof(roles[0]); ri++) {
            hresp r = call(F, roles[ri], "GET", path, NULL, NULL);
            json_t *acts = json_object_get(r.json, "actions");
            ck_assert_int_eq(r.status, 200);
            for (ai = 0; ai < sizeof(actions) / sizeof(actions[0]); ai++) {
                int listed = 0, want = expected_code(actions[ai], all_statuses[si], roles[ri]);
                size_t k;
                for (k = 0; k < json_array_size(acts); k++)
                    listed |= !strcmp(json_string_value(json_array_get(acts, k)), actions[ai]);
                ck_assert_msg(listed == (want < 400), "%s on %s for %s: listed %d, allowed %d",
                              actions[ai], all_statuses[si], F->name[roles[ri]], listed,
                              want < 400);
            }
            hresp_free(&r);
        }
    }
}
END_TEST

/* ---- the seed scenario -------------------------------------------------------- */

static int verify_chain(const char *chain_pem, const char *root_pem, char *serial_out)
{
    STACK_OF(X509) *chain = cin_chain_parse(chain_pem), *roots = cin_chain_parse(root_pem);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    cin_cert_facts f;
    int ok;

    ck_assert_ptr_nonnull(chain);
    ck_assert_ptr_nonnull(roots);
    X509_STORE_add_cert(store, sk_X509_value(roots, 0));
    X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), chain);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    ok = X509_verify_cert(ctx);
    cin_cert_facts_get(chain_pem, &f);
    strcpy(serial_out, f.serial);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(roots, X509_free);
    return ok;
}

static long long credits(int u)
{
    hresp r = call(F, u, "GET", "/api/v1/account", NULL, NULL);
    long long c = json_integer_value(json_object_get(r.json, "credits"));

    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    return c;
}

START_TEST(seed_scenario)
{
    char id[32], id2[32], path[128], serial[80];
    uint64_t g0 = 0, g1 = 0;
    long long c0;
    char *root = NULL;
    hresp r;

    /* a basic user's order waits for approval */
    snprintf(id, sizeof(id), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"shop.example.com\"]"));
    expect_status(id, "pending_approval");
    snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
    r = call(F, U_BASIC, "GET", path, NULL, NULL);
    ck_assert_str_eq(jstr(&r, "status"), "pending_approval");
    ck_assert(json_is_null(json_object_get(r.json, "order_number")));
    ck_assert_str_eq(jstr(&r, "requester"), "bob");
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "price")), 10);
    hresp_free(&r);

    /* reject without a reason: 400, unchanged */
    snprintf(id2, sizeof(id2), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"blog.example.com\"]"));
    r = post(U_ADMIN, id2, "reject", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(problem_code(&r), "bad_request");
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "reason"));
    hresp_free(&r);
    r = post(U_ADMIN, id2, "reject", "{\"reason\":\"   \"}");
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    expect_status(id2, "pending_approval");
    /* with a reason: rejected, and the requester sees the reason */
    r = post(U_ADMIN, id2, "reject", "{\"reason\":\"blog.example.com is retired\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "status"), "rejected");
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s", id2);
    r = call(F, U_BASIC, "GET", path, NULL, NULL);
    ck_assert_str_eq(jstr(&r, "rejection_reason"), "blog.example.com is retired");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "actions")), 0);
    hresp_free(&r);

    /* approve: awaiting payment, no order number yet */
    r = post(U_ADMIN, id, "approve", "{\"comment\":\"ok\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "status"), "awaiting_payment");
    ck_assert(json_is_null(json_object_get(r.json, "order_number")));
    ck_assert_str_eq(jstr(&r, "approved_by"), "ann");
    ck_assert_ptr_nonnull(jstr(&r, "approved_at"));
    hresp_free(&r);

    /* pay: order number, credits debited once, ledger entry, processing */
    c0 = credits(U_ADMIN);
    r = post(U_BASIC, id, "pay", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "status"), "processing");
    ck_assert_ptr_nonnull(jstr(&r, "order_number"));
    ck_assert_int_eq(strncmp(jstr(&r, "order_number"), "CIN-", 4), 0);
    hresp_free(&r);
    ck_assert_int_eq(credits(U_ADMIN), c0 - 10);
    r = call(F, U_ADMIN, "GET", "/api/v1/ledger", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    {
        json_t *e = json_array_get(json_object_get(r.json, "ledger"), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "delta")), -10);
        ck_assert_str_eq(json_string_value(json_object_get(e, "order")), id);
    }
    hresp_free(&r);
    r = post(U_BASIC, id, "pay", NULL); /* a second pay is refused and debits nothing */
    ck_assert_int_eq(r.status, 409);
    hresp_free(&r);
    ck_assert_int_eq(credits(U_ADMIN), c0 - 10);

    /* the agent issues; the chain verifies against the built-in root */
    ck_assert_int_eq(cin_store_generation(F->st, &g0), CIN_OK);
    agent_pass(F);
    expect_status(id, "issued");
    ck_assert_int_eq(cin_store_generation(F->st, &g1), CIN_OK);
    ck_assert_uint_gt(g1, g0);
    ck_assert_uint_eq(cin_store_generation_published(cin_core_serving(F->core)), g1);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/certificate", id);
    r = call(F, U_BASIC, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.ctype, "application/pem-certificate-chain");
    ck_assert_int_eq(cin_ca_local_root(F->st, &root), CIN_OK);
    ck_assert_int_eq(verify_chain(r.body, root, serial), 1);
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
    r = call(F, U_BASIC, "GET", path, NULL, NULL);
    {
        json_t *c = json_object_get(r.json, "certificate");
        ck_assert_str_eq(json_string_value(json_object_get(c, "serial")), serial);
        ck_assert_uint_eq(strlen(json_string_value(json_object_get(c, "sha256"))), 64);
        ck_assert_uint_ge(strlen(serial), 30); /* 128 random bits, hex */
    }
    hresp_free(&r);
    /* the audit trail of the order, each step with its actor */
    snprintf(path, sizeof(path), "/api/v1/orders/%s/events", id);
    r = call(F, U_BASIC, "GET", path, NULL, NULL);
    {
        json_t *ev = json_object_get(r.json, "events");
        const char *want[][2] = {{"order.create", "bob"},
                                 {"order.approve", "ann"},
                                 {"order.pay", "bob"},
                                 {"order.issued", "agent"}};
        size_t k;
        ck_assert_uint_eq(json_array_size(ev), 4);
        for (k = 0; k < 4; k++) {
            json_t *e = json_array_get(ev, k);
            ck_assert_str_eq(json_string_value(json_object_get(e, "action")), want[k][0]);
            ck_assert_str_eq(json_string_value(json_object_get(e, "actor")), want[k][1]);
        }
        /* where people worked from is for administrators, not for the customer */
        ck_assert_ptr_null(json_object_get(json_array_get(ev, 1), "peer"));
    }
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r.json, "events"), 0), "peer")),
                     "192.0.2.7");
    hresp_free(&r);
    free(root);
}
END_TEST

START_TEST(certificate_contents)
{
    char id[32], path[128];
    STACK_OF(X509) * chain;
    X509 *leaf;
    hresp r;
    int crit = 0;

    snprintf(id, sizeof(id), "%s",
             order_new(F, U_ADMIN, "dv-multi", "[\"a.example.com\",\"b.example.com\"]"));
    r = post(U_ADMIN, id, "pay", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/certificate", id);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    chain = cin_chain_parse(r.body);
    ck_assert_int_eq(sk_X509_num(chain), 2);
    leaf = sk_X509_value(chain, 0);
    ck_assert_int_eq(X509_check_host(leaf, "a.example.com", 0, 0, NULL), 1);
    ck_assert_int_eq(X509_check_host(leaf, "b.example.com", 0, 0, NULL), 1);
    ck_assert_int_eq(X509_check_host(leaf, "c.example.com", 0, 0, NULL), 0);
    ck_assert_int_eq(X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0), 1);
    ck_assert_int_eq(X509_check_ca(leaf), 0);
    {
        BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
        ck_assert_ptr_nonnull(bc);
        ck_assert_int_eq(bc->ca, 0);
        ck_assert_int_eq(crit, 1);
        BASIC_CONSTRAINTS_free(bc);
    }
    ck_assert_ptr_nonnull(X509_get0_subject_key_id(leaf));
    ck_assert_ptr_nonnull(X509_get0_authority_key_id(leaf));
    /* validity: the order's 200 days */
    {
        int days = 0, secs = 0;
        ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf), X509_get0_notAfter(leaf));
        ck_assert_int_eq(days, 200);
        ck_assert_int_eq(secs, 0);
    }
    sk_X509_pop_free(chain, X509_free);
    hresp_free(&r);
    /* the key download is for admins and audited */
    snprintf(path, sizeof(path), "/api/v1/orders/%s/key", id);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "PRIVATE KEY"));
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/events", id);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "order.key_download"));
    ck_assert_ptr_null(strstr(r.body, "PRIVATE KEY"));
    hresp_free(&r);
}
END_TEST

START_TEST(admin_skips_approval_and_ev_needs_signatory)
{
    char id[32];
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, U_ADMIN, "dv-ssl", "[\"adm.example.com\"]"));
    expect_status(id, "awaiting_payment");
    /* EV: approval, then the authorized signatory's consent, then payment */
    snprintf(id, sizeof(id), "%s", order_new(F, U_STANDARD, "ev-ssl", "[\"ev.example.com\"]"));
    r = post(U_ADMIN, id, "approve", NULL);
    ck_assert_str_eq(jstr(&r, "status"), "pending_signatory");
    hresp_free(&r);
    r = post(U_STANDARD, id, "pay", NULL);
    ck_assert_int_eq(r.status, 409);
    hresp_free(&r);
    r = post(U_ADMIN, id, "signatory/approve", NULL); /* ann is not a signatory */
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
    r = post(U_SIGNATORY, id, "signatory/reject", NULL); /* a reason is required */
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    r = post(U_SIGNATORY, id, "signatory/approve", "{\"comment\":\"consent given\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "status"), "awaiting_payment");
    ck_assert_str_eq(jstr(&r, "signatory_by"), "sig");
    hresp_free(&r);
    /* an admin's own EV order skips approval but still needs the signatory */
    snprintf(id, sizeof(id), "%s", order_new(F, U_ADMIN, "ev-ssl", "[\"ev2.example.com\"]"));
    expect_status(id, "pending_signatory");
    /* nobody approves their own request: the signatory's own EV order */
    snprintf(id, sizeof(id), "%s", order_new(F, U_SIGNATORY, "ev-ssl", "[\"ev3.example.com\"]"));
    r = post(U_ADMIN, id, "approve", NULL);
    hresp_free(&r);
    r = post(U_SIGNATORY, id, "signatory/approve", NULL);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "own"));
    hresp_free(&r);
    expect_status(id, "pending_signatory");
}
END_TEST

START_TEST(visibility)
{
    char id[32], path[128];
    hresp r;
    size_t n;

    snprintf(id, sizeof(id), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"v1.example.com\"]"));
    order_new(F, U_BASIC2, "dv-ssl", "[\"v2.example.com\"]");
    order_new(F, U_STANDARD, "dv-ssl", "[\"v3.example.com\"]");
    order_new(F, U_OTHER_ADMIN, "dv-ssl", "[\"x.other.org\"]");
    /* standard sees the account's orders, basic only their own */
    r = call(F, U_STANDARD, "GET", "/api/v1/orders", NULL, NULL);
    n = json_array_size(json_object_get(r.json, "orders"));
    ck_assert_uint_eq(n, 3);
    hresp_free(&r);
    r = call(F, U_BASIC, "GET", "/api/v1/orders", NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "orders")), 1);
    hresp_free(&r);
    r = call(F, U_OTHER_ADMIN, "GET", "/api/v1/orders", NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "orders")), 1);
    hresp_free(&r);
    /* another user's order for a basic user, another account's for anyone: 404 */
    snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
    r = call(F, U_BASIC2, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(problem_code(&r), "not_found");
    hresp_free(&r);
    r = call(F, U_OTHER_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/events", id);
    r = call(F, U_OTHER_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
    /* a nonexistent order looks the same as an invisible one */
    r = call(F, U_ADMIN, "GET", "/api/v1/orders/R-999999", NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
}
END_TEST

START_TEST(list_filters_and_paging)
{
    hresp r;
    char path[160];
    const char *cursor;
    int i;

    for (i = 0; i < 5; i++) {
        char names[64];
        snprintf(names, sizeof(names), "[\"p%d.example.com\"]", i);
        order_new(F, U_ADMIN, "dv-ssl", names);
    }
    order_new(F, U_BASIC, "dv-ssl", "[\"needle.example.com\"]");
    r = call(F, U_ADMIN, "GET", "/api/v1/orders?limit=2", NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "orders")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r.json, "orders"), 0), "common_name")),
                     "needle.example.com"); /* newest first */
    cursor = jstr(&r, "next_cursor");
    ck_assert_ptr_nonnull(cursor);
    snprintf(path, sizeof(path), "/api/v1/orders?limit=10&cursor=%s", cursor);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "orders")), 4);
    ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/orders?q=needle", NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "orders")), 1);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/orders?status=pending_approval", NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "orders")), 1);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/orders?status=bogus", NULL, NULL);
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/orders?limit=0", NULL, NULL);
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/orders?cursor=abc", NULL, NULL);
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
}
END_TEST

START_TEST(domain_not_owned)
{
    long long orders = count_rows(F, "orders"), events = count_rows(F, "order_events");
    hresp r;

    r = call(F, U_BASIC, "POST", "/api/v1/orders",
             "{\"product\":\"dv-ssl\",\"common_name\":\"www.other.org\"}", NULL);
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(problem_code(&r), "domain_not_owned");
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "www.other.org"));
    hresp_free(&r);
    r = call(F, U_BASIC, "POST", "/api/v1/orders",
             "{\"product\":\"dv-multi\",\"common_name\":\"a.example.com\",\"sans\":"
             "[\"a.example.com\",\"unowned.example.org\"]}",
             NULL);
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(problem_code(&r), "domain_not_owned");
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "orders"), orders);
    ck_assert_int_eq(count_rows(F, "order_events"), events);
    r = call(F, U_BASIC, "GET", "/api/v1/domains", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "example.com"));
    ck_assert_ptr_null(strstr(r.body, "other.org"));
    hresp_free(&r);
}
END_TEST

START_TEST(insufficient_credits_changes_nothing)
{
    char id[32], *before, *after;
    hresp r;

    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_credits_move(F->st, 1, -995, 0, "drain", "test", NULL), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    snprintf(id, sizeof(id), "%s",
             order_new(F, U_ADMIN, "dv-multi", "[\"a.example.com\",\"b.example.com\"]"));
    before = snapshot(id);
    r = post(U_ADMIN, id, "pay", NULL);
    ck_assert_int_eq(r.status, 402);
    ck_assert_str_eq(problem_code(&r), "insufficient_credits");
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "costs 15"));
    hresp_free(&r);
    after = snapshot(id);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

START_TEST(pay_idempotency_key)
{
    const char *hdr[] = {"Idempotency-Key: pay-once-1", NULL};
    char id[32], path[128], *first;
    long long c0 = credits(U_ADMIN);
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, U_ADMIN, "dv-ssl", "[\"idem.example.com\"]"));
    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
    r = call(F, U_ADMIN, "POST", path, NULL, hdr);
    ck_assert_int_eq(r.status, 200);
    first = strdup(r.body);
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", path, NULL, hdr);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, first);
    ck_assert_str_eq(hresp_header(&r, "Idempotent-Replayed"), "true");
    hresp_free(&r);
    ck_assert_int_eq(credits(U_ADMIN), c0 - 10);
    /* another user cannot replay it to read the order */
    r = call(F, U_OTHER_ADMIN, "POST", path, NULL, hdr);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
    free(first);
}
END_TEST

/* Two processes pay the same order at once: one debit, one order number. */
START_TEST(concurrent_pay)
{
    char id[32];
    long long c0 = credits(U_ADMIN);
    pid_t kids[2];
    int i, st, ok = 0, conflict = 0;
    char *out = NULL, cmd[256];

    snprintf(id, sizeof(id), "%s", order_new(F, U_ADMIN, "dv-ssl", "[\"race.example.com\"]"));
    for (i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            /* a new process: its own core and store connection */
            cin_core_config cfg = {0};
            cin_core *core = NULL;
            cin_core *saved = F->core;
            hresp r;
            cfg.store_path = F->path;
            cfg.key_file = F->key_path;
            cfg.state_dir = F->dir;
            if (cin_core_create(&cfg, NULL, &core, NULL) != CIN_OK)
                _exit(9);
            F->core = core;
            r = post(U_ADMIN, id, "pay", NULL);
            F->core = saved;
            _exit(r.status == 200 ? 0 : r.status == 409 ? 1 : 2);
        }
    }
    for (i = 0; i < 2; i++) {
        waitpid(kids[i], &st, 0);
        ck_assert(WIFEXITED(st));
        ok += WEXITSTATUS(st) == 0;
        conflict += WEXITSTATUS(st) == 1;
    }
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(conflict, 1);
    ck_assert_int_eq(credits(U_ADMIN), c0 - 10);
    snprintf(cmd, sizeof(cmd), "SELECT count(*) FROM ledger WHERE order_id=%lld",
             (long long)cin_order_parse_id(id));
    out = store_query(F, cmd);
    ck_assert_str_eq(out, "1\n");
    free(out);
    out = store_query(F, "SELECT count(*) FROM orders WHERE order_number IS NOT NULL");
    ck_assert_str_eq(out, "1\n");
    free(out);
}
END_TEST

START_TEST(cancel_refunds_paid_order)
{
    char id[32];
    long long c0 = credits(U_ADMIN);
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, U_ADMIN, "dv-ssl", "[\"refund.example.com\"]"));
    r = post(U_ADMIN, id, "pay", NULL);
    hresp_free(&r);
    ck_assert_int_eq(credits(U_ADMIN), c0 - 10);
    r = post(U_ADMIN, id, "cancel", "{\"note\":\"changed my mind\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "status"), "cancelled");
    hresp_free(&r);
    ck_assert_int_eq(credits(U_ADMIN), c0);
    /* the agent does not issue a cancelled order */
    agent_pass(F);
    expect_status(id, "cancelled");
    ck_assert_int_eq(count_rows(F, "certificates"), 0);
}
END_TEST

START_TEST(renew_reissue_sans_revoke)
{
    char id[32], rid[32], sid[32], path[128];
    long long c0;
    hresp r;

    snprintf(id, sizeof(id), "%s",
             order_new(F, U_ADMIN, "dv-multi", "[\"r.example.com\",\"www.r.example.com\"]"));
    r = post(U_ADMIN, id, "pay", NULL);
    hresp_free(&r);
    agent_pass(F);
    /* reissue: same names, free, approval as for a new order (admin: none) */
    c0 = credits(U_ADMIN);
    r = post(U_ADMIN, id, "reissue", "{\"key_type\":\"rsa-2048\"}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(jstr(&r, "kind"), "reissue");
    ck_assert_str_eq(jstr(&r, "key_type"), "rsa-2048");
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "price")), 0);
    snprintf(rid, sizeof(rid), "%s", jstr(&r, "id"));
    hresp_free(&r);
    /* a second reissue (a double click) while the first is open: 409 naming it */
    r = post(U_ADMIN, id, "reissue", NULL);
    ck_assert_int_eq(r.status, 409);
    ck_assert_str_eq(jstr(&r, "open_order"), rid);
    hresp_free(&r);
    r = post(U_ADMIN, id, "renew", NULL);
    ck_assert_int_eq(r.status, 409);
    hresp_free(&r);
    r = post(U_ADMIN, rid, "pay", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    ck_assert_int_eq(credits(U_ADMIN), c0);
    agent_pass(F);
    expect_status(rid, "issued");
    /* the parent is superseded: no longer live, no actions, and says by whom */
    snprintf(path, sizeof(path), "/api/v1/orders/%s", id);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_str_eq(jstr(&r, "status"), "superseded");
    ck_assert_str_eq(jstr(&r, "superseded_by"), rid);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(r.json, "certificate"), "status")),
        "superseded");
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "actions")), 0);
    hresp_free(&r);
    r = post(U_ADMIN, id, "renew", NULL);
    ck_assert_int_eq(r.status, 409);
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), rid));
    hresp_free(&r);
    /* the reissue ends when the original does: a reissue never extends a lineage */
    {
        char path2[128];
        hresp a, b;
        snprintf(path2, sizeof(path2), "/api/v1/orders/%s", rid);
        a = call(F, U_ADMIN, "GET", path, NULL, NULL);
        b = call(F, U_ADMIN, "GET", path2, NULL, NULL);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(a.json, "certificate"), "not_after")),
            json_string_value(
                json_object_get(json_object_get(b.json, "certificate"), "not_after")));
        hresp_free(&a);
        hresp_free(&b);
    }
    /* SAN changes refused before anything is written */
    r = post(U_ADMIN, rid, "sans", "{\"remove\":[\"r.example.com\"]}");
    ck_assert_int_eq(r.status, 400); /* the common name stays */
    ck_assert_str_eq(jstr(&r, "field"), "remove");
    hresp_free(&r);
    r = post(U_ADMIN, rid, "sans", "{\"add\":[\"x.other.org\"]}");
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(problem_code(&r), "domain_not_owned");
    hresp_free(&r);
    r = post(U_ADMIN, rid, "sans", "{}");
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    /* add a SAN: charged 5; remove one: free */
    r = post(U_ADMIN, rid, "sans",
             "{\"add\":[\"api.r.example.com\"],\"remove\":[\"www.r.example.com\"]}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "price")), 5);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "sans")), 2);
    ck_assert_ptr_nonnull(strstr(r.body, "api.r.example.com"));
    ck_assert_ptr_null(strstr(r.body, "www.r.example.com"));
    snprintf(sid, sizeof(sid), "%s", jstr(&r, "id"));
    hresp_free(&r);
    /* one open change at a time: cancel it to renew */
    r = post(U_ADMIN, rid, "renew", NULL);
    ck_assert_int_eq(r.status, 409);
    ck_assert_str_eq(jstr(&r, "open_order"), sid);
    hresp_free(&r);
    r = post(U_ADMIN, sid, "cancel", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    /* renew: a full-price new order */
    r = post(U_ADMIN, rid, "renew", NULL);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(jstr(&r, "kind"), "renewal");
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "price")), 15);
    hresp_free(&r);
    /* revoke: needs a known RFC 5280 reason */
    r = post(U_ADMIN, rid, "revoke", "{\"reason\":\"because\"}");
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    expect_status(rid, "issued");
    {
        uint64_t g0 = cin_store_generation_published(cin_core_serving(F->core));
        r = post(U_ADMIN, rid, "revoke", "{\"reason\":\"keyCompromise\"}");
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(jstr(&r, "status"), "revoked");
        hresp_free(&r);
        /* revoking moves the generation at once, inside the request */
        ck_assert_uint_gt(cin_store_generation_published(cin_core_serving(F->core)), g0);
    }
}
END_TEST

START_TEST(customer_csr_orders)
{
    char *csr = csr_for("csr.example.com,www.csr.example.com"), *q = json_quote(csr), *body;
    char *other = csr_for("csr.example.com"), *q2 = json_quote(other);
    char id[32];
    hresp r;

    body = cin_asprintf("{\"product\":\"dv-multi\",\"common_name\":\"csr.example.com\","
                        "\"sans\":[\"www.csr.example.com\"],\"key_source\":\"csr\",\"csr\":%s}",
                        q);
    r = call(F, U_ADMIN, "POST", "/api/v1/orders", body, NULL);
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(jstr(&r, "key_source"), "csr");
    snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
    hresp_free(&r);
    free(body);
    r = post(U_ADMIN, id, "pay", NULL);
    ck_assert_str_eq(jstr(&r, "status"), "processing");
    hresp_free(&r);
    agent_pass(F);
    expect_status(id, "issued");
    /* no key to download for a customer's own key */
    {
        char path[96];
        snprintf(path, sizeof(path), "/api/v1/orders/%s/key", id);
        r = call(F, U_ADMIN, "GET", path, NULL, NULL);
        ck_assert_int_eq(r.status, 409);
        hresp_free(&r);
    }
    /* a CSR whose names differ */
    body = cin_asprintf("{\"product\":\"dv-multi\",\"common_name\":\"csr.example.com\","
                        "\"sans\":[\"www.csr.example.com\"],\"key_source\":\"csr\",\"csr\":%s}",
                        q2);
    r = call(F, U_ADMIN, "POST", "/api/v1/orders", body, NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(problem_code(&r), "invalid_csr");
    hresp_free(&r);
    free(body);
    /* key_source csr without a csr */
    r = call(F, U_ADMIN, "POST", "/api/v1/orders",
             "{\"product\":\"dv-ssl\",\"common_name\":\"c.example.com\",\"key_source\":\"csr\"}",
             NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(problem_code(&r), "invalid_csr");
    hresp_free(&r);
    free(csr);
    free(q);
    free(other);
    free(q2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("order");
    TCase *tc = tcase_create("order");
    TCase *tm = tcase_create("matrix");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, seed_scenario);
    tcase_add_test(tc, certificate_contents);
    tcase_add_test(tc, admin_skips_approval_and_ev_needs_signatory);
    tcase_add_test(tc, visibility);
    tcase_add_test(tc, list_filters_and_paging);
    tcase_add_test(tc, domain_not_owned);
    tcase_add_test(tc, insufficient_credits_changes_nothing);
    tcase_add_test(tc, pay_idempotency_key);
    tcase_add_test(tc, concurrent_pay);
    tcase_add_test(tc, cancel_refunds_paid_order);
    tcase_add_test(tc, renew_reissue_sans_revoke);
    tcase_add_test(tc, customer_csr_orders);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(tm, setup, teardown);
    tcase_set_timeout(tm, 600);
    tcase_add_loop_test(tm, matrix, 0, 14);
    tcase_add_test(tm, actions_list_matches_endpoints);
    suite_add_tcase(s, tm);
    return run_suite(s);
}
