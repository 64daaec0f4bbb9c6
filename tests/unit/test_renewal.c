/*
 * test_renewal.c - a renewal gives what was paid for (issue 15): its certificate's
 * validity counts from the renewed certificate's end, bounded by the built-in CA's
 * maximum (CIN_CA_LOCAL_MAX_DAYS), and the order's "renewal" preview says what a
 * renewal placed now gives before anything is paid. SQLite and (CIN_TEST_PG)
 * PostgreSQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_order.h"
#include "cin_util.h"
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

/* POST path as ann; the answer's "id" (static buffer) */
static const char *post_id(const char *path, const char *body, int want)
{
    static char id[32];
    hresp r = call(F, U_ADMIN, "POST", path, body, NULL);

    ck_assert_msg(r.status == want, "%s: %d %s", path, r.status, r.body);
    snprintf(id, sizeof(id), "%s", jstr(&r, "id") ? jstr(&r, "id") : "");
    hresp_free(&r);
    return id;
}

/* pays for order id and lets the agent issue it */
static void pay_and_issue(const char *id)
{
    char path[96], *st;

    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
    post_id(path, NULL, 200);
    agent_pass(F);
    st = order_status(F, id);
    ck_assert_str_eq(st, "issued");
    free(st);
}

/* the notAfter of order id's certificate, as the store has it */
static time_t not_after_of(const char *id)
{
    char sql[200], *v;
    time_t t;

    snprintf(sql, sizeof(sql),
             "SELECT c.not_after_ts FROM certificates c JOIN orders o ON o.cert_id = c.id"
             " WHERE o.id = %lld",
             (long long)cin_order_parse_id(id));
    v = store_query(F, sql);
    t = (time_t)strtoll(v, NULL, 10);
    free(v);
    ck_assert_int_gt(t, 0);
    return t;
}

static const char *issued(const char *name, int days)
{
    static char id[32];
    char body[200];

    snprintf(body, sizeof(body),
             "{\"product\":\"dv-ssl\",\"common_name\":\"%s\",\"sans\":[\"%s\"],"
             "\"validity_days\":%d}",
             name, name, days);
    snprintf(id, sizeof(id), "%s", post_id("/api/v1/orders", body, 201));
    pay_and_issue(id);
    return id;
}

START_TEST(pure_rule)
{
    time_t now = 1800000000;
    int capped = -1;

    /* 30 days left, 90 bought: 120 days */
    ck_assert_int_eq(cin_renewal_not_after(now, now + 30 * 86400, 90, 397, &capped),
                     now + 120 * 86400);
    ck_assert_int_eq(capped, 0);
    /* 200 left, 200 bought: the CA's 397 days, and said */
    ck_assert_int_eq(cin_renewal_not_after(now, now + 200 * 86400, 200, 397, &capped),
                     now + 397 * 86400);
    ck_assert_int_eq(capped, 1);
    /* already expired: counted from now, as a new certificate */
    ck_assert_int_eq(cin_renewal_not_after(now, now - 86400, 90, 397, &capped),
                     now + 90 * 86400 - 60);
    ck_assert_int_eq(capped, 0);
    ck_assert_int_eq(cin_renewal_not_after(now, 0, 90, 397, NULL), now + 90 * 86400 - 60);
}
END_TEST

START_TEST(renewal_counts_from_the_originals_end)
{
    char path[96], renewal[32], at[21];
    const char *orig = issued("carry.example.com", 30);
    char oid[32];
    time_t end, got, now;
    hresp r;
    json_t *pv;

    snprintf(oid, sizeof(oid), "%s", orig);
    end = not_after_of(oid);
    /* the order says what a renewal placed now gives, before anything is paid */
    snprintf(path, sizeof(path), "/api/v1/orders/%s", oid);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    pv = json_object_get(r.json, "renewal");
    ck_assert_ptr_nonnull(pv);
    ck_assert(json_is_true(json_object_get(pv, "carries_over")));
    ck_assert(json_is_false(json_object_get(pv, "capped")));
    ck_assert_int_eq(json_integer_value(json_object_get(pv, "validity_days")), 30);
    ck_assert_int_eq(json_integer_value(json_object_get(pv, "carried_over_days")), 29);
    cin_time_rfc3339(end + 30 * 86400, at);
    ck_assert_str_eq(json_string_value(json_object_get(pv, "not_after")), at);
    hresp_free(&r);
    /* renewed: the new certificate ends 30 days after the original, to the second */
    snprintf(path, sizeof(path), "/api/v1/orders/%s/renew", oid);
    snprintf(renewal, sizeof(renewal), "%s", post_id(path, NULL, 201));
    /* the renewal waiting for payment says the same expiry */
    snprintf(path, sizeof(path), "/api/v1/orders/%s", renewal);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_str_eq(jstr(&r, "expected_not_after"), at);
    ck_assert(json_is_false(json_object_get(r.json, "expected_capped")));
    hresp_free(&r);
    pay_and_issue(renewal);
    got = not_after_of(renewal);
    ck_assert_msg(got == end + 30 * 86400, "renewal ends %lld, original %lld (+%lld s)",
                  (long long)got, (long long)end, (long long)(got - end));
    /* the superseded original offers no renewal preview any more */
    snprintf(path, sizeof(path), "/api/v1/orders/%s", oid);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_ptr_null(json_object_get(r.json, "renewal"));
    hresp_free(&r);
    now = time(NULL);
    ck_assert_int_gt(got - now, 58 * 86400);
}
END_TEST

START_TEST(the_cas_maximum_bounds_it_and_is_said)
{
    char path[96], renewal[32];
    const char *orig = issued("long.example.com", 200);
    char oid[32];
    time_t end, got, before;
    hresp r;
    json_t *pv;

    snprintf(oid, sizeof(oid), "%s", orig);
    end = not_after_of(oid);
    snprintf(path, sizeof(path), "/api/v1/orders/%s", oid);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    pv = json_object_get(r.json, "renewal");
    ck_assert_ptr_nonnull(pv);
    ck_assert(json_is_true(json_object_get(pv, "capped")));
    ck_assert_int_eq(json_integer_value(json_object_get(pv, "max_days")), CIN_CA_LOCAL_MAX_DAYS);
    ck_assert_int_eq(json_integer_value(json_object_get(pv, "carried_over_days")),
                     CIN_CA_LOCAL_MAX_DAYS - 200);
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/renew", oid);
    snprintf(renewal, sizeof(renewal), "%s", post_id(path, NULL, 201));
    before = time(NULL);
    pay_and_issue(renewal);
    got = not_after_of(renewal);
    /* later than the original, but no more than the CA's maximum from issuance */
    ck_assert_int_gt(got, end);
    ck_assert_int_le(got, time(NULL) + (time_t)CIN_CA_LOCAL_MAX_DAYS * 86400);
    ck_assert_int_ge(got, before + (time_t)CIN_CA_LOCAL_MAX_DAYS * 86400 - 5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("renewal");
    TCase *tc = tcase_create("renewal");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pure_rule);
    tcase_add_test(tc, renewal_counts_from_the_originals_end);
    tcase_add_test(tc, the_cas_maximum_bounds_it_and_is_said);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
