/*
 * test_report.c - the reports (report.c): rows within the caller's scope,
 * filters, totals per account, CSV row by row with formula cells neutralised.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_report.h"
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

START_TEST(csv_cells)
{
    static const char *const in[] = {"plain", "=1+2",       "+SUM(A1)", "-2", "@cmd",
                                     "a,b",   "say \"hi\"", "\ttab",    NULL};
    static const char *const want[] = {
        "plain",     "\"'=1+2\"", "\"'+SUM(A1)\"",      "\"'-2\"",
        "\"'@cmd\"", "\"a,b\"",   "\"say \"\"hi\"\"\"", "\"'\ttab\""};
    size_t i;

    for (i = 0; in[i]; i++) {
        char *c = cin_csv_cell(in[i]);
        ck_assert_str_eq(c, want[i]);
        free(c);
    }
}
END_TEST

START_TEST(orders_report_and_csv)
{
    hresp r;
    const char *id1, *lines[16];
    char *csv, *save = NULL, *line, ida[32], idb[32];
    size_t n = 0;

    snprintf(ida, sizeof(ida), "%s", order_new(F, U_ADMIN, "dv-ssl", "[\"a.example.com\"]"));
    snprintf(idb, sizeof(idb), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"b.example.com\"]"));
    id1 = ida;
    r = call(F, U_ADMIN, "POST", "/api/v1/orders/R-000001/pay", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/reports/orders", NULL, NULL);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "orders")), 2);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(r.json, "totals"), "credits_spent")),
        10);
    hresp_free(&r);
    /* a basic user: own orders only */
    r = call(F, U_BASIC, "GET", "/api/v1/reports/orders", NULL, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "orders")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r.json, "orders"), 0), "id")),
                     idb);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/reports/orders?status=processing&format=csv", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.ctype, "text/csv; charset=utf-8");
    csv = strdup(r.body);
    for (line = strtok_r(csv, "\r\n", &save); line && n < 16; line = strtok_r(NULL, "\r\n", &save))
        lines[n++] = line;
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(lines[0], "row,id,order_number,account,requester,product,status,common_name,"
                               "price,credits_spent,created_at,fields_text,orders");
    ck_assert(!strncmp(lines[1], "item,", 5) && strstr(lines[1], id1) &&
              strstr(lines[1], ",CIN-000001,acme,ann,dv-ssl,processing,a.example.com,10,10,"));
    ck_assert_str_eq(lines[2], "total,,,acme,,,,,,10,,,1");
    ck_assert_str_eq(lines[3], "total,,,*,,,,,,10,,,1");
    free(csv);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/reports/sales?format=csv", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "row,account,orders,credits_spent\r\nitem,acme,2,10\r\n");
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/reports/orders?format=xml", NULL, NULL);
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    r = call(F, U_OTHER_ADMIN, "GET", "/api/v1/reports/orders?account=acme", NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, csv_cells);
    tcase_add_test(tc, orders_report_and_csv);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
