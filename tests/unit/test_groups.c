/*
 * test_groups.c - groups and custom fields (groups.c, store_groups.c):
 * an approver group approves a product's orders instead of any
 * administrator; custom fields validated on new orders, shown on the order,
 * filtered and exported in reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_groups.h"
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

static void expect(hresp r, int status)
{
    ck_assert_msg(r.status == status, "got %d, expected %d: %s", r.status, status,
                  r.body ? r.body : "");
    hresp_free(&r);
}

static hresp approve(int u, const char *id)
{
    char path[96];

    snprintf(path, sizeof(path), "/api/v1/orders/%s/approve", id);
    return call(F, u, "POST", path, NULL, NULL);
}

START_TEST(approver_group_instead_of_admins)
{
    char ev[32], dv[32];
    hresp r;

    expect(call(F, U_STANDARD, "POST", "/api/v1/groups", "{\"name\":\"security\"}", NULL), 403);
    expect(call(F, U_ADMIN, "POST", "/api/v1/groups", "{\"name\":\"security\"}", NULL), 201);
    expect(call(F, U_ADMIN, "POST", "/api/v1/groups", "{\"name\":\"security\"}", NULL), 409);
    expect(call(F, U_ADMIN, "POST", "/api/v1/groups/security/members", "{\"user\":\"sam\"}", NULL),
           200);
    expect(
        call(F, U_ADMIN, "POST", "/api/v1/groups/security/members", "{\"user\":\"oscar\"}", NULL),
        404);
    expect(
        call(F, U_ADMIN, "POST", "/api/v1/groups/nope/approves", "{\"product\":\"ev-ssl\"}", NULL),
        404);
    expect(call(F, U_ADMIN, "POST", "/api/v1/groups/security/approves", "{\"product\":\"ev-ssl\"}",
                NULL),
           200);
    r = call(F, U_ADMIN, "GET", "/api/v1/groups", NULL, NULL);
    ck_assert_str_eq(
        json_string_value(json_array_get(
            json_object_get(json_array_get(json_object_get(r.json, "groups"), 0), "approves"), 0)),
        "ev-ssl");
    hresp_free(&r);
    snprintf(ev, sizeof(ev), "%s",
             order_new(F, U_BASIC, "ev-ssl", "[\"ev.example.com\",\"www.example.com\"]"));
    snprintf(dv, sizeof(dv), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"dv.example.com\"]"));
    /* ev-ssl: the group's member, not an administrator */
    r = call(F, U_ADMIN, "GET", "/api/v1/orders", NULL, NULL);
    hresp_free(&r);
    expect(approve(U_ADMIN, ev), 403);
    expect(approve(U_ADMIN2, ev), 403);
    expect(approve(U_STANDARD, ev), 200);
    /* dv-ssl: any administrator, as before; the member is not one */
    expect(approve(U_STANDARD, dv), 403);
    expect(approve(U_ADMIN, dv), 200);
    /* the member's own request is never theirs to approve */
    snprintf(ev, sizeof(ev), "%s",
             order_new(F, U_STANDARD, "ev-ssl", "[\"ev2.example.com\",\"www.example.com\"]"));
    expect(approve(U_STANDARD, ev), 403);
    /* back to the administrators */
    expect(call(F, U_ADMIN, "DELETE", "/api/v1/groups/security/approves/ev-ssl", NULL, NULL), 204);
    expect(approve(U_ADMIN, ev), 200);
}
END_TEST

START_TEST(custom_fields_validated_shown_reported)
{
    hresp r;
    char id[32];

    expect(call(F, U_ADMIN, "POST", "/api/v1/fields",
                "{\"name\":\"cost_centre\",\"type\":\"text\",\"required\":true}", NULL),
           201);
    expect(call(F, U_ADMIN, "POST", "/api/v1/fields",
                "{\"name\":\"ticket\",\"type\":\"number\",\"products\":[\"dv-ssl\"]}", NULL),
           201);
    expect(call(F, U_ADMIN, "POST", "/api/v1/fields",
                "{\"name\":\"tier\",\"type\":\"choice\",\"choices\":[\"gold\",\"silver\"]}", NULL),
           201);
    expect(call(F, U_ADMIN, "POST", "/api/v1/fields", "{\"name\":\"x\",\"type\":\"choice\"}", NULL),
           400);
    expect(call(F, U_ADMIN, "POST", "/api/v1/fields", "{\"name\":\"x\",\"type\":\"date\"}", NULL),
           400);
    expect(call(F, U_BASIC, "POST", "/api/v1/fields", "{\"name\":\"x\",\"type\":\"text\"}", NULL),
           403);
    /* required, typed, known - or 400 naming the field, nothing written */
    r = call(F, U_BASIC, "POST", "/api/v1/orders",
             "{\"product\":\"dv-ssl\",\"common_name\":\"f.example.com\"}", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(jstr(&r, "field"), "fields.cost_centre");
    hresp_free(&r);
    r = call(F, U_BASIC, "POST", "/api/v1/orders",
             "{\"product\":\"dv-ssl\",\"common_name\":\"f.example.com\",\"fields\":"
             "{\"cost_centre\":\"=HYPERLINK(1)\",\"ticket\":\"twelve\"}}",
             NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(jstr(&r, "field"), "fields.ticket");
    hresp_free(&r);
    r = call(F, U_BASIC, "POST", "/api/v1/orders",
             "{\"product\":\"dv-ssl\",\"common_name\":\"f.example.com\",\"fields\":"
             "{\"cost_centre\":\"CC\",\"tier\":\"bronze\"}}",
             NULL);
    ck_assert_str_eq(jstr(&r, "field"), "fields.tier");
    hresp_free(&r);
    r = call(F, U_BASIC, "POST", "/api/v1/orders",
             "{\"product\":\"ov-ssl\",\"common_name\":\"f.example.com\",\"fields\":"
             "{\"cost_centre\":\"CC\",\"ticket\":12}}",
             NULL);
    ck_assert_str_eq(jstr(&r, "field"), "fields.ticket"); /* not a field of ov-ssl */
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "orders"), 0);
    r = call(F, U_BASIC, "POST", "/api/v1/orders",
             "{\"product\":\"dv-ssl\",\"common_name\":\"f.example.com\",\"fields\":"
             "{\"cost_centre\":\"=HYPERLINK(1)\",\"ticket\":12,\"tier\":\"gold\"}}",
             NULL);
    ck_assert_msg(r.status == 201, "%s", r.body);
    snprintf(id, sizeof(id), "%s", jstr(&r, "id"));
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(r.json, "fields"), "ticket")), "12");
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/api/v1/orders",
             "{\"product\":\"ov-ssl\",\"common_name\":\"g.example.com\",\"fields\":"
             "{\"cost_centre\":\"B-7\"}}",
             NULL);
    ck_assert_int_eq(r.status, 201);
    hresp_free(&r);
    /* shown on the order, filtered and exported by the report */
    r = call(F, U_ADMIN, "GET", "/api/v1/reports/orders?field=cost_centre&value=%3DHYPERLINK(1)",
             NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "orders")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r.json, "orders"), 0), "id")),
                     id);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/reports/orders?format=csv&product=dv-ssl", NULL, NULL);
    ck_assert_msg(strstr(r.body, ",\"cost_centre==HYPERLINK(1); ticket=12; tier=gold\",") ||
                      strstr(r.body, ",cost_centre==HYPERLINK(1); ticket=12; tier=gold,"),
                  "%s", r.body);
    hresp_free(&r);
    /* a renewal carries its parent's values */
    {
        char path[96];
        r = call(F, U_ADMIN, "POST", "/api/v1/orders/R-000002/pay", NULL, NULL);
        ck_assert_int_eq(r.status, 200);
        hresp_free(&r);
        agent_pass(F);
        snprintf(path, sizeof(path), "/api/v1/orders/%s", "R-000002");
        r = call(F, U_ADMIN, "POST", "/api/v1/orders/R-000002/renew", NULL, NULL);
        ck_assert_msg(r.status == 201, "%s", r.body);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(r.json, "fields"), "cost_centre")),
            "B-7");
        hresp_free(&r);
        (void)path;
    }
    expect(call(F, U_ADMIN, "DELETE", "/api/v1/fields/tier", NULL, NULL), 204);
    expect(call(F, U_ADMIN, "DELETE", "/api/v1/fields/tier", NULL, NULL), 404);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("groups");
    TCase *tc = tcase_create("groups");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, approver_group_instead_of_admins);
    tcase_add_test(tc, custom_fields_validated_shown_reported);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
