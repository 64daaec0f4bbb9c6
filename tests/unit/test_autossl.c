/* test_autossl.c - autossl.c and store_auto.c: every assigned domain of an
 * account with a policy gets a certificate, once, paid by the policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cin_account.h"
#include "cin_agent.h"
#include "cin_autossl.h"
#include "cin_order.h"
#include "harness.h"

static fixture *F;
static const cin_actor provider = {NULL, "cli", NULL};

static void setup(void)
{
    F = fixture_new();
}

static void teardown(void)
{
    fixture_free(F);
    F = NULL;
}

static char *sql(const char *q)
{
    return store_query(F, q);
}

static void sql_is(const char *q, const char *want)
{
    char *v = sql(q);

    ck_assert_msg(!strcmp(v, want), "%s: got '%s', want '%s'", q, v, want);
    free(v);
}

static void domain(const char *account, const char *name)
{
    cin_problem p = {0};

    ck_assert_int_eq(cin_account_domain_add(F->st, &provider, account, name, &p), CIN_OK);
}

static void credits(const char *account, int64_t n)
{
    cin_problem p = {0};

    ck_assert_int_eq(cin_account_credits_add(F->st, &provider, account, n, NULL, &p), CIN_OK);
}

static void policy(const char *account, const char *product, int www)
{
    cin_problem p = {0};

    ck_assert_int_eq(cin_autossl_policy_set(F->st, &provider, account, product, www, &p), CIN_OK);
}

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

START_TEST(policy_checked_and_audited)
{
    cin_problem p = {0};
    cin_user u = {0};
    cin_actor admin = {&u, NULL, NULL};

    ck_assert_int_eq(cin_autossl_policy_set(F->st, &provider, "acme", "ev-ssl", 0, &p), CIN_EINVAL);
    ck_assert_str_eq(p.field, "product");
    cin_problem_clear(&p);
    ck_assert_int_eq(cin_autossl_policy_set(F->st, &provider, "acme", "dv-ssl", 1, &p), CIN_EINVAL);
    ck_assert_ptr_nonnull(strstr(p.detail, "dv-multi"));
    cin_problem_clear(&p);
    ck_assert_int_eq(cin_autossl_policy_set(F->st, &provider, "acme", "no-such", 0, &p),
                     CIN_EINVAL);
    cin_problem_clear(&p);
    ck_assert_int_eq(cin_autossl_policy_set(F->st, &provider, "nobody", "dv-ssl", 0, &p),
                     CIN_ENOTFOUND);
    cin_problem_clear(&p);
    u.role = "admin";
    u.account = "acme";
    ck_assert_int_eq(cin_autossl_policy_set(F->st, &admin, "acme", "dv-ssl", 0, &p), CIN_EPERM);
    cin_problem_clear(&p);
    sql_is("SELECT count(*) FROM accounts WHERE auto_product IS NOT NULL", "0\n");
    policy("acme", "dv-multi", 1);
    sql_is("SELECT auto_product, auto_www FROM accounts WHERE name='acme'", "dv-multi|1\n");
    sql_is("SELECT actor, detail FROM order_events WHERE action='account.autossl'",
           "cli|AutoSSL: dv-multi + www\n");
    policy("acme", NULL, 0);
    sql_is("SELECT count(*) FROM accounts WHERE auto_product IS NOT NULL", "0\n");
}
END_TEST

START_TEST(two_hundred_domains_ordered_once_and_served)
{
    cin_autossl_stats s;
    cin_name_entry *e = NULL;
    uint64_t gen = 0;
    size_t n = 0, i;
    double t0, took;
    char name[64];
    int served = 0, passes = 0;

    /* example.com already has a certificate: AutoSSL leaves it alone */
    order_new(F, U_ADMIN, "dv-ssl", "[\"example.com\"]");
    {
        hresp r = call(F, U_ADMIN, "POST", "/api/v1/orders/R-000001/pay", NULL, NULL);
        ck_assert_int_eq(r.status, 200);
        hresp_free(&r);
    }
    agent_pass(F);
    sql_is("SELECT count(*) FROM certificates WHERE status='active'", "1\n");
    credits("acme", 2000);
    policy("acme", "dv-ssl", 0);
    for (i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "site%03zu.autossl-test.com", i);
        domain("acme", name);
    }
    /* the account "other" has no policy: its domain gets nothing */
    t0 = now_s();
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.ordered, 201); /* 200 + shop.example.net */
    /* the fixture's intranet.lan is a private name dv-ssl refuses: an alert */
    ck_assert_int_eq(s.refused, 1);
    sql_is("SELECT count(*) FROM order_events WHERE action='autossl.refused' AND detail LIKE"
           " 'intranet.lan: %'",
           "1\n");
    /* a second pass (or a second agent) orders nothing more */
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.ordered, 0);
    do {
        agent_pass(F);
        passes++;
    } while (count_rows(F, "certificates") < 202 && passes < 10);
    took = now_s() - t0;
    sql_is("SELECT count(*) FROM orders WHERE kind='automatic' AND status='issued'", "201\n");
    sql_is("SELECT count(*) FROM (SELECT common_name FROM orders GROUP BY common_name"
           " HAVING count(*) > 1) AS d",
           "0\n");
    /* charged once each, 10 credits: 1000 + 2000 - 10 (the manual order) - 2010 */
    sql_is("SELECT count(*), sum(delta) FROM ledger l JOIN orders o ON o.id = l.order_id"
           " WHERE o.kind = 'automatic'",
           "201|-2010\n");
    sql_is("SELECT credits FROM accounts WHERE name='acme'", "980\n");
    sql_is("SELECT count(*) FROM order_events WHERE actor='automatic' AND action='order.pay'",
           "201\n");
    sql_is("SELECT count(*) FROM orders WHERE account_id = (SELECT id FROM accounts WHERE"
           " name='other')",
           "0\n");
    /* every name is in the SNI index with its certificate */
    ck_assert_int_eq(cin_store_names_since(F->st, 0, &e, &n, &gen), CIN_OK);
    for (i = 0; i < n; i++)
        if (strstr(e[i].name, ".autossl-test.com") && e[i].cert_id > 0)
            served++;
    cin_name_entries_free(e, n);
    ck_assert_int_eq(served, 200);
    fprintf(stderr,
            "autossl: 201 domains ordered, issued and indexed in %.2f s (%d agent passes)\n", took,
            passes);
    ck_assert_msg(took < 30, "took %.1f s", took);
}
END_TEST

START_TEST(short_credits_alert_then_order_when_paid)
{
    cin_problem p = {0};
    cin_autossl_stats s;
    char *v;

    ck_assert_int_eq(cin_account_create(F->st, &provider, "poor", 5, NULL, &p), CIN_OK);
    {
        cin_user_fields uf = {0};
        cin_user u;
        cin_account acct;
        uf.name = "pat";
        uf.role = "admin";
        ck_assert_int_eq(cin_store_account_get(F->st, "poor", &acct), CIN_OK);
        ck_assert_int_eq(cin_account_user_create(F->st, &provider, acct.id, &uf, &u, &p), CIN_OK);
        cin_user_clear(&u);
        cin_account_clear(&acct);
    }
    domain("poor", "poor-site.com");
    policy("poor", "dv-ssl", 0);
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.ordered, 0);
    ck_assert_int_eq(s.refused, 1);
    sql_is("SELECT count(*) FROM orders", "0\n");
    v = sql("SELECT detail FROM order_events WHERE action='autossl.refused'");
    ck_assert_ptr_nonnull(strstr(v, "poor-site.com: AutoSSL could not order"));
    ck_assert_ptr_nonnull(strstr(v, "costs 10 credits; the account has 5"));
    free(v);
    /* said once: the next pass waits for the retry time */
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.refused, 0);
    sql_is("SELECT count(*) FROM order_events WHERE action='autossl.refused'", "1\n");
    /* the account's page shows the policy and the alert (its administrator) */
    {
        cin_token_info ti;
        char *tok = NULL;
        cin_user pu;
        json_t *al;
        hresp r;
        char *saved = F->token[U_OTHER_ADMIN];
        ck_assert_int_eq(cin_store_user_get(F->st, "pat", &pu), CIN_OK);
        ck_assert_int_eq(cin_account_token_create(F->st, &provider, pu.id, "t", 0, &tok, &ti, &p),
                         CIN_OK);
        F->token[U_OTHER_ADMIN] = tok;
        r = call(F, U_OTHER_ADMIN, "GET", "/api/v1/account", NULL, NULL);
        F->token[U_OTHER_ADMIN] = saved;
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(r.json, "autossl"), "product")),
            "dv-ssl");
        al = json_array_get(json_object_get(json_object_get(r.json, "autossl"), "alerts"), 0);
        ck_assert_str_eq(json_string_value(json_object_get(al, "name")), "poor-site.com");
        ck_assert_ptr_nonnull(
            strstr(json_string_value(json_object_get(al, "detail")), "the account has 5"));
        hresp_free(&r);
        cin_token_info_clear(&ti);
        cin_user_clear(&pu);
        free(tok);
    }
    credits("poor", 100);
    free(store_query(F, "UPDATE auto_orders SET next_at = 0"));
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.ordered, 1);
    sql_is("SELECT status, kind, auto_renew, price FROM orders", "processing|automatic|1|10\n");
    sql_is("SELECT credits FROM accounts WHERE name='poor'", "95\n");
    /* ordered: the alert is gone */
    sql_is("SELECT count(*) FROM auto_orders WHERE alert IS NOT NULL", "0\n");
}
END_TEST

/* A sub-account that bills its parent orders automatically only under the
 * parent's policy, and the parent's balance pays (both ledgers show it). */
START_TEST(sub_account_orders_only_under_the_parents_policy)
{
    cin_problem p = {0};
    cin_autossl_stats s;
    char *v;

    ck_assert_int_eq(cin_account_create(F->st, &provider, "resell", 100, NULL, &p), CIN_OK);
    ck_assert_int_eq(cin_account_create_sub(F->st, &provider, "kid", "resell", "kidadmin",
                                            "a long enough password", NULL, &p),
                     CIN_OK);
    ck_assert_int_eq(cin_account_set_rules(F->st, &provider, "kid", 0, "parent", -1, &p), CIN_OK);
    domain("kid", "kid-site.com");
    policy("kid", "dv-ssl", 0);
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.ordered, 0);
    ck_assert_int_eq(s.refused, 1);
    sql_is("SELECT count(*) FROM orders", "0\n");
    v = sql("SELECT detail FROM order_events WHERE action='autossl.refused'");
    ck_assert_ptr_nonnull(strstr(v, "parent account's permission"));
    free(v);
    /* the parent allows it: ordered, and the parent pays */
    ck_assert_int_eq(cin_account_set_rules(F->st, &provider, "kid", -1, NULL, 1, &p), CIN_OK);
    free(store_query(F, "UPDATE auto_orders SET next_at = 0"));
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.ordered, 1);
    sql_is("SELECT credits FROM accounts WHERE name='resell'", "90\n");
    sql_is("SELECT credits FROM accounts WHERE name='kid'", "0\n");
    sql_is("SELECT a.name, l.delta FROM ledger l JOIN accounts a ON a.id = l.account_id "
           "WHERE l.order_id IS NOT NULL ORDER BY a.name",
           "kid|0\nresell|-10\n");
}
END_TEST

START_TEST(www_included_and_wildcard_covers)
{
    cin_autossl_stats s;
    hresp r;

    /* a wildcard certificate already serves shop.example.net's subdomains */
    order_new(F, U_ADMIN, "dv-wildcard", "[\"*.shop.example.net\"]");
    r = call(F, U_ADMIN, "POST", "/api/v1/orders/R-000001/pay", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    domain("acme", "cart.shop.example.net");
    policy("acme", "dv-multi", 1);
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    /* example.com and shop.example.net; cart.shop.example.net is covered */
    ck_assert_int_eq(s.ordered, 2);
    sql_is("SELECT common_name, sans FROM orders WHERE kind='automatic' ORDER BY common_name",
           "example.com|[\"example.com\",\"www.example.com\"]\n"
           "shop.example.net|[\"shop.example.net\",\"www.shop.example.net\"]\n");
    /* a domain removed before the agent issued: the order fails, nothing is served */
    agent_pass(F);
    sql_is("SELECT count(*) FROM orders WHERE kind='automatic' AND status='issued'", "2\n");
}
END_TEST

/* An AutoSSL order that failed at its CA was paid: the same order goes back
 * to the CA (after 1, 2, 4, 8, 16 hours), never a second order or charge;
 * after 5 retries it stays failed with an alert on the account. */
START_TEST(failed_at_the_ca_retried_never_charged_twice)
{
    cin_autossl_stats s;
    char *credits_before, *v;
    int k;

    policy("acme", "dv-ssl", 0);
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.ordered, 2);
    credits_before = sql("SELECT credits FROM accounts WHERE name='acme'");
    /* the CA refuses example.com's order (as the agent records it) */
    free(sql("UPDATE orders SET status='failed', error='{\"detail\":\"CAA forbids\"}'"
             " WHERE common_name='example.com'"));
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.ordered + s.retried, 0); /* within the hour: nothing */
    for (k = 1; k <= 5; k++) {
        long wait = 3600L << k, ahead;
        free(sql("UPDATE auto_orders SET next_at = 0"));
        ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
        ck_assert_int_eq(s.ordered, 0);
        ck_assert_int_eq(s.retried, 1);
        sql_is("SELECT status, attempts FROM orders WHERE common_name='example.com'",
               "processing|0\n");
        /* backing off: 2, 4, 8, 16 hours, then a day at most */
        v = sql("SELECT next_at FROM auto_orders WHERE name='example.com'");
        ahead = atol(v) - (long)time(NULL);
        free(v);
        if (wait > 86400)
            wait = 86400;
        ck_assert_msg(ahead > wait - 120 && ahead <= wait, "retry %d: %ld s ahead", k, ahead);
        free(sql("UPDATE orders SET status='failed', error='{\"detail\":\"CAA forbids\"}'"
                 " WHERE common_name='example.com'"));
    }
    /* the sixth failure: held, said once on the account */
    for (k = 0; k < 2; k++) {
        free(sql("UPDATE auto_orders SET next_at = 0"));
        ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
        ck_assert_int_eq(s.ordered + s.retried, 0);
        ck_assert_int_eq(s.held, 1);
    }
    sql_is("SELECT count(*), min(status) FROM orders WHERE common_name='example.com'",
           "1|failed\n");
    v = sql("SELECT credits FROM accounts WHERE name='acme'");
    ck_assert_str_eq(v, credits_before);
    free(v);
    free(credits_before);
    sql_is("SELECT count(*) FROM ledger l JOIN orders o ON o.id = l.order_id"
           " WHERE o.common_name = 'example.com'",
           "1\n");
    sql_is("SELECT count(*) FROM order_events WHERE action='autossl.retry'", "5\n");
    sql_is("SELECT count(*) FROM order_events WHERE action='autossl.held'", "1\n");
    v = sql("SELECT alert FROM auto_orders WHERE name='example.com'");
    ck_assert_msg(strstr(v, "failed at its CA 6 times") && strstr(v, "CAA forbids"), "%s", v);
    free(v);
    /* an administrator's retry that succeeds clears nothing AutoSSL needs:
     * the order is open again, so the domain is not due */
    free(sql("UPDATE orders SET status='processing' WHERE common_name='example.com'"));
    free(sql("UPDATE auto_orders SET next_at = 0"));
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.ordered + s.retried + s.held, 0);
}
END_TEST

START_TEST(agent_pass_runs_autossl)
{
    json_t *certs;
    size_t i;
    hresp r;

    policy("acme", "dv-ssl", 0);
    agent_pass(F);
    /* ordered and issued by the same pass */
    sql_is("SELECT count(*) FROM orders WHERE kind='automatic' AND status='issued'", "2\n");
    /* the certificates report (and so the page) says how they came */
    r = call(F, U_ADMIN, "GET", "/api/v1/certificates", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    certs = json_object_get(r.json, "certificates");
    ck_assert_int_eq(json_array_size(certs), 2);
    for (i = 0; i < json_array_size(certs); i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(certs, i), "origin")),
                         "automatic");
    hresp_free(&r);
}
END_TEST

START_TEST(automatic_certificates_renew_themselves_without_a_duplicate)
{
    cin_agent_stats as;
    cin_autossl_stats s;
    char q[256];

    policy("acme", "dv-ssl", 0);
    agent_pass(F);
    sql_is("SELECT count(*) FROM orders WHERE kind='automatic' AND status='issued'", "2\n");
    /* example.com's certificate reaches its renewal point */
    snprintf(q, sizeof(q),
             "UPDATE certificates SET lifetime_start = %lld, lifetime_end = %lld WHERE"
             " order_id = (SELECT id FROM orders WHERE common_name = 'example.com')",
             (long long)time(NULL) - 8000000, (long long)time(NULL) + 1000);
    free(store_query(F, q));
    memset(&as, 0, sizeof(as));
    ck_assert_int_eq(cin_agent_renewals(F->st, "test", &as), CIN_OK);
    ck_assert_int_eq(as.renewals, 1);
    agent_pass(F);
    /* renewed (charged, issued, the old one superseded) - and AutoSSL, which
     * sees the renewal's certificate, orders nothing new */
    sql_is("SELECT kind, status FROM orders WHERE common_name = 'example.com' ORDER BY id",
           "automatic|superseded\nrenewal|issued\n");
    ck_assert_int_eq(cin_autossl_run(F->st, "test", 0, &s), CIN_OK);
    ck_assert_int_eq(s.ordered, 0);
    sql_is("SELECT count(*) FROM ledger WHERE delta < 0", "3\n");
}
END_TEST

START_TEST(domain_assignment_wakes_the_agent)
{
    policy("acme", "dv-ssl", 0);
    agent_pass(F);
    agent_pass(F); /* the first pass's issuances moved the generation */
    /* nothing to do now: the agent's poll would sleep */
    ck_assert_int_eq(cin_agent_work_due(F->st), 0);
    domain("acme", "woken.example.org");
    if (!store_is_pg(F)) {
        /* the assignment moved the generation: the very next poll works */
        ck_assert_int_eq(cin_agent_work_due(F->st), 1);
    } else {
        /* a central store publishes no generation to the agent's host: its
         * AutoSSL look comes with the 2-second interval */
        double t0 = now_s();
        char *v = NULL;
        /* other work (the notification pass's new events) may wake it first:
         * poll as the agent does until the order is there */
        for (;;) {
            if (cin_agent_work_due(F->st))
                agent_pass(F);
            free(v);
            v = sql("SELECT status FROM orders WHERE common_name = 'woken.example.org'");
            if (!strcmp(v, "issued\n") || now_s() - t0 > 5)
                break;
            usleep(50000);
        }
        free(v);
        ck_assert_double_lt(now_s() - t0, 3.5);
    }
    agent_pass(F);
    sql_is("SELECT status FROM orders WHERE common_name = 'woken.example.org'", "issued\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("autossl");
    TCase *tc = tcase_create("autossl");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, policy_checked_and_audited);
    tcase_add_test(tc, two_hundred_domains_ordered_once_and_served);
    tcase_add_test(tc, short_credits_alert_then_order_when_paid);
    tcase_add_test(tc, sub_account_orders_only_under_the_parents_policy);
    tcase_add_test(tc, www_included_and_wildcard_covers);
    tcase_add_test(tc, failed_at_the_ca_retried_never_charged_twice);
    tcase_add_test(tc, agent_pass_runs_autossl);
    tcase_add_test(tc, domain_assignment_wakes_the_agent);
    tcase_add_test(tc, automatic_certificates_renew_themselves_without_a_duplicate);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
