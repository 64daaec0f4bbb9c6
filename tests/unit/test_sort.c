/*
 * test_sort.c - server-side sorting and paging (issue 15): GET /orders and GET
 * /certificates take ?sort=field or -field from a whitelist (anything else: 400 with
 * field "sort"), and page through the whole sorted list with the cursor they give.
 * SQLite and (CIN_TEST_PG) PostgreSQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* the names of the list's rows joined with ',', every page followed (static buffer) */
static const char *walk(const char *path, const char *key, const char *field, int *pages)
{
    static char out[1024];
    char url[300], cursor[40] = "";
    hresp r;
    size_t i;

    out[0] = '\0';
    *pages = 0;
    do {
        snprintf(url, sizeof(url), "%s%s%s", path, *cursor ? "&cursor=" : "", cursor);
        r = call(F, U_ADMIN, "GET", url, NULL, NULL);
        ck_assert_msg(r.status == 200, "%s: %d %s", url, r.status, r.body);
        for (i = 0; i < json_array_size(json_object_get(r.json, key)); i++) {
            json_t *row = json_array_get(json_object_get(r.json, key), i);
            if (*out)
                strcat(out, ",");
            strcat(out, json_string_value(json_object_get(row, field)));
        }
        snprintf(cursor, sizeof(cursor), "%s",
                 jstr(&r, "next_cursor") ? jstr(&r, "next_cursor") : "");
        (*pages)++;
        hresp_free(&r);
    } while (*cursor && *pages < 20);
    return out;
}

static void refused(const char *url)
{
    hresp r = call(F, U_ADMIN, "GET", url, NULL, NULL);

    ck_assert_msg(r.status == 400, "%s: %d", url, r.status);
    ck_assert_str_eq(problem_code(&r), "bad_request");
    ck_assert_str_eq(jstr(&r, "field"), "sort");
    hresp_free(&r);
}

START_TEST(orders_sorted_and_paged)
{
    static const char *names[] = {"b.example.com", "d.example.com", "a.example.com",
                                  "e.example.com", "c.example.com"};
    char body[64];
    int pages;
    size_t i;

    for (i = 0; i < 5; i++) {
        snprintf(body, sizeof(body), "[\"%s\"]", names[i]);
        order_new(F, U_ADMIN, "dv-ssl", body);
    }
    ck_assert_str_eq(
        walk("/api/v1/orders?sort=common_name&limit=2", "orders", "common_name", &pages),
        "a.example.com,b.example.com,c.example.com,d.example.com,e.example.com");
    ck_assert_int_eq(pages, 3);
    ck_assert_str_eq(
        walk("/api/v1/orders?sort=-common_name&limit=3", "orders", "common_name", &pages),
        "e.example.com,d.example.com,c.example.com,b.example.com,a.example.com");
    ck_assert_int_eq(pages, 2);
    /* created: oldest first; -created the default order */
    ck_assert_str_eq(walk("/api/v1/orders?sort=created&limit=4", "orders", "id", &pages),
                     "R-000001,R-000002,R-000003,R-000004,R-000005");
    ck_assert_str_eq(walk("/api/v1/orders?sort=-created&limit=4", "orders", "id", &pages),
                     "R-000005,R-000004,R-000003,R-000002,R-000001");
    ck_assert_str_eq(walk("/api/v1/orders?limit=4", "orders", "id", &pages),
                     "R-000005,R-000004,R-000003,R-000002,R-000001");
    /* a field that is not on the list, or anything else: refused, in words */
    refused("/api/v1/orders?sort=password_hash");
    refused("/api/v1/orders?sort=-");
    refused("/api/v1/orders?sort=id%3BDROP%20TABLE%20orders");
    refused("/api/v1/orders?sort=%2Bid");
    ck_assert_int_eq(count_rows(F, "orders"), 5);
}
END_TEST

START_TEST(certificates_sorted_and_paged)
{
    static const char *names[] = {"x.example.com", "y.example.com", "z.example.com"};
    char body[64], path[96], sql[160];
    int pages;
    size_t i;
    hresp r;

    for (i = 0; i < 3; i++) {
        snprintf(body, sizeof(body), "[\"%s\"]", names[i]);
        snprintf(path, sizeof(path), "/api/v1/orders/%s/pay",
                 order_new(F, U_ADMIN, "dv-ssl", body));
        r = call(F, U_ADMIN, "POST", path, NULL, NULL);
        ck_assert_int_eq(r.status, 200);
        hresp_free(&r);
    }
    agent_pass(F);
    /* y ends first, then z, then x */
    for (i = 0; i < 3; i++) {
        snprintf(sql, sizeof(sql),
                 "UPDATE certificates SET not_after_ts = not_after_ts - %d WHERE order_id = %zu",
                 i == 1   ? 3000
                 : i == 2 ? 2000
                          : 1000,
                 i + 1);
        free(store_query(F, sql));
    }
    ck_assert_str_eq(
        walk("/api/v1/certificates?sort=not_after&limit=2", "certificates", "common_name", &pages),
        "y.example.com,z.example.com,x.example.com");
    ck_assert_int_eq(pages, 2);
    ck_assert_str_eq(
        walk("/api/v1/certificates?sort=-order&limit=1", "certificates", "order", &pages),
        "R-000003,R-000002,R-000001");
    ck_assert_int_eq(pages, 3);
    /* without limit: every row, as before */
    ck_assert_str_eq(
        walk("/api/v1/certificates?sort=-not_after", "certificates", "common_name", &pages),
        "x.example.com,z.example.com,y.example.com");
    ck_assert_int_eq(pages, 1);
    refused("/api/v1/certificates?sort=chain_pem");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sort");
    TCase *tc = tcase_create("sort");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, orders_sorted_and_paged);
    tcase_add_test(tc, certificates_sorted_and_paged);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
