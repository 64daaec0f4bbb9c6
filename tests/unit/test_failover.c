/* test_failover.c - the store side of CA failover, distrust and domain claims (issue 14),
 * on both backends. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cin_ca.h"
#include "cin_domain_claim.h"
#include "cin_order.h"
#include "cin_store_ca.h"
#include "harness.h"

static fixture *F;

static void setup(void)
{
    cin_ca_config c;

    F = fixture_new();
    memset(&c, 0, sizeof(c));
    c.kind = "acme";
    c.directory_url = "https://a.test/dir";
    c.name = "ca-a";
    c.failover_after = 2;
    ck_assert_int_eq(cin_store_ca_add(F->st, &c, NULL, NULL), CIN_OK);
    c.name = "ca-b";
    c.failover_after = 0;
    ck_assert_int_eq(cin_store_ca_add(F->st, &c, NULL, NULL), CIN_OK);
}

static void teardown(void)
{
    fixture_free(F);
    F = NULL;
}

START_TEST(product_ca_lists)
{
    char *two[] = {"ca-a", "ca-b"}, *dup[] = {"ca-a", "ca-a"}, *bad[] = {"ca-a", "nope"};
    char **got = NULL, *err = NULL, *at = NULL;
    size_t n = 0;
    int attempts;

    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_product_set_cas(F->st, "dv-ssl", two, 2, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_product_cas(F->st, "dv-ssl", &got, &n), CIN_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(got[0], "ca-a");
    ck_assert_str_eq(got[1], "ca-b");
    cin_strv_free(got, n);
    ck_assert_int_eq(cin_store_ca_failover_after(F->st, "ca-a"), 2);
    ck_assert_int_eq(cin_store_ca_failover_after(F->st, "ca-b"), 3);
    /* bad lists change nothing */
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_product_set_cas(F->st, "dv-ssl", dup, 2, &err), CIN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "twice"));
    free(err);
    err = NULL;
    ck_assert_int_eq(cin_store_product_set_cas(F->st, "dv-ssl", bad, 2, &err), CIN_ENOTFOUND);
    free(err);
    cin_store_rollback(F->st);
    ck_assert_int_eq(cin_store_product_cas(F->st, "dv-ssl", &got, &n), CIN_OK);
    ck_assert_int_eq(n, 2);
    cin_strv_free(got, n);
    /* one CA again: the list goes */
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_product_set_ca(F->st, "dv-ssl", "ca-b", NULL), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_product_cas(F->st, "dv-ssl", &got, &n), CIN_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(got[0], "ca-b");
    cin_strv_free(got, n);
    /* an order's CA and attempts there */
    ck_assert_int_eq(cin_store_order_ca_get(F->st, 1, &at, &attempts), CIN_ENOTFOUND);
    cin_order_parse_id(order_new(F, U_ADMIN, "dv-ssl", "[\"a.example.com\"]"));
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_order_ca_set(F->st, 1, "ca-a", 1), CIN_OK);
    ck_assert_int_eq(cin_store_order_ca_set(F->st, 1, "ca-b", 0), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_order_ca_get(F->st, 1, &at, &attempts), CIN_OK);
    ck_assert_str_eq(at, "ca-b");
    ck_assert_int_eq(attempts, 0);
    free(at);
}
END_TEST

START_TEST(distrust_queues_and_reports)
{
    cin_distrust_counts c;
    char *err = NULL, **stranded = NULL;
    size_t n = 0;
    hresp r;

    /* an issued order on the built-in CA, the only CA of dv-ssl */
    cin_order_parse_id(order_new(F, U_ADMIN, "dv-ssl", "[\"d.example.com\"]"));
    r = call(F, U_ADMIN, "POST", "/api/v1/orders/R-000001/pay", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    ck_assert_int_eq(cin_ca_distrust(F->st, "nope", NULL, "test", &c, &err), CIN_ENOTFOUND);
    free(err);
    err = NULL;
    ck_assert_int_eq(cin_ca_distrust(F->st, NULL, "12:34", "test", &c, &err), CIN_EINVAL);
    free(err);
    ck_assert_int_eq(cin_ca_distrust(F->st, "builtin", NULL, "test", &c, NULL), CIN_OK);
    ck_assert_int_eq(c.queued, 0);
    ck_assert_int_eq(c.stranded, 1);
    ck_assert(cin_store_ca_distrusted(F->st, "builtin"));
    ck_assert(!cin_store_ca_distrusted(F->st, "ca-a"));
    ck_assert_int_eq(cin_distrust_status(F->st, &c, &stranded, &n), CIN_OK);
    ck_assert_int_eq(c.stranded, 1);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(stranded[0], "dv-ssl");
    cin_strv_free(stranded, n);
    ck_assert_int_eq(cin_distrust_work(F->st, "test"), 0);
    /* the page's progress: the account's own certificates, for its administrators */
    r = call(F, U_ADMIN, "GET", "/api/v1/distrust", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"stranded\":1"));
    ck_assert_ptr_nonnull(strstr(r.body, "\"replaced\":0"));
    hresp_free(&r);
    r = call(F, U_OTHER_ADMIN, "GET", "/api/v1/distrust", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"stranded\":0"));
    hresp_free(&r);
    r = call(F, U_STANDARD, "GET", "/api/v1/distrust", NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
}
END_TEST

/* A free distrust reissue on the built-in CA ends when the original does:
 * a replacement buys no extra validity. */
START_TEST(distrust_reissue_keeps_not_after)
{
    char *two[] = {"ca-a", "builtin"}, *q, sql[256], want[64];
    time_t end = time(NULL) + 30 * 86400;
    cin_distrust_counts c;
    struct tm tm;
    hresp r;

    cin_order_parse_id(order_new(F, U_ADMIN, "dv-ssl", "[\"d.example.com\"]"));
    r = call(F, U_ADMIN, "POST", "/api/v1/orders/R-000001/pay", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    q = order_status(F, "R-000001");
    ck_assert_str_eq(q, "issued");
    free(q);
    /* as if ca-a had issued it, thirty days before its end, and dv-ssl went
     * to ca-a then the built-in CA */
    gmtime_r(&end, &tm);
    strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(sql, sizeof(sql), "UPDATE certificates SET not_after = '%s', not_after_ts = %lld",
             want, (long long)end);
    free(store_query(F, sql));
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_order_ca_set(F->st, 1, "ca-a", 0), CIN_OK);
    ck_assert_int_eq(cin_store_product_set_cas(F->st, "dv-ssl", two, 2, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    ck_assert_int_eq(cin_ca_distrust(F->st, "ca-a", NULL, "test", &c, NULL), CIN_OK);
    ck_assert_int_eq(c.queued, 1);
    ck_assert_int_eq(cin_distrust_work(F->st, "test"), 1);
    agent_pass(F);
    q = store_query(F, "SELECT o.status, o.price, c.not_after_ts FROM orders o JOIN"
                       " certificates c ON c.id = o.cert_id WHERE o.parent_id = 1");
    snprintf(want, sizeof(want), "issued|0|%lld\n", (long long)end);
    ck_assert_str_eq(q, want);
    free(q);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("failover");
    TCase *tc = tcase_create("failover");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, product_ca_lists);
    tcase_add_test(tc, distrust_queues_and_reports);
    tcase_add_test(tc, distrust_reissue_keeps_not_after);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
