/*
 * test_page_api.c - the API parts the web page's issue (15) added: PKCS#12
 * downloads (admins, audited, password checked), CSV exports with formula
 * cells neutralised, order search by request / order number / requester, and
 * audit filters. Run on SQLite and (CIN_TEST_PG) PostgreSQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "harness.h"

/* api_csv.c (declared in the core's private http_int.h) */
char *cin_csv_from_json(json_t *rows, const char *const *cols, size_t *len);

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

static const char *issued(int u, const char *names_json)
{
    static char id[32];
    char path[128];
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, u, "dv-ssl", names_json));
    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
    r = call(F, u, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    agent_pass(F);
    {
        char *status = order_status(F, id);
        ck_assert_str_eq(status, "issued");
        free(status);
    }
    return id;
}

static long long events_named(const char *action)
{
    char sql[160], *out;
    long long n;

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM order_events WHERE action = '%s'", action);
    out = store_query(F, sql);
    n = atoll(out);
    free(out);
    return n;
}

START_TEST(pkcs12_for_admins_audited)
{
    char id[32], path[128];
    const unsigned char *p;
    PKCS12 *p12;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    hresp r;

    snprintf(id, sizeof(id), "%s", issued(U_ADMIN, "[\"p12.example.com\"]"));
    snprintf(path, sizeof(path), "/api/v1/orders/%s/pkcs12", id);
    /* a short password: 400 naming the field, nothing audited */
    r = call(F, U_ADMIN, "POST", path, "{\"password\":\"short\"}", NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(jstr(&r, "field"), "password");
    hresp_free(&r);
    ck_assert_int_eq(events_named("order.pkcs12_download"), 0);
    /* not an administrator: 403, nothing audited */
    r = call(F, U_STANDARD, "POST", path, "{\"password\":\"long enough pw\"}", NULL);
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 405);
    hresp_free(&r);
    ck_assert_int_eq(events_named("order.pkcs12_download"), 0);
    /* the admin: a PKCS#12 file that opens with the password, key matching cert */
    r = call(F, U_ADMIN, "POST", path, "{\"password\":\"long enough pw\"}", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.ctype, "application/x-pkcs12");
    ck_assert_ptr_nonnull(strstr(hresp_header(&r, "Content-Disposition"), ".p12"));
    p = (const unsigned char *)r.raw.body;
    p12 = d2i_PKCS12(NULL, &p, (long)r.raw.body_len);
    ck_assert_ptr_nonnull(p12);
    ck_assert_int_eq(PKCS12_parse(p12, "wrong password", &key, &cert, &ca), 0);
    ck_assert_int_eq(PKCS12_parse(p12, "long enough pw", &key, &cert, &ca), 1);
    ck_assert_int_eq(X509_check_private_key(cert, key), 1);
    ck_assert_int_eq(X509_check_host(cert, "p12.example.com", 0, 0, NULL), 1);
    ck_assert_int_eq(sk_X509_num(ca), 1);
    sk_X509_pop_free(ca, X509_free);
    X509_free(cert);
    EVP_PKEY_free(key);
    PKCS12_free(p12);
    hresp_free(&r);
    ck_assert_int_eq(events_named("order.pkcs12_download"), 1);
}
END_TEST

START_TEST(csv_cells_neutralised)
{
    json_t *rows = json_pack("[{s:s,s:s,s:[s,s],s:i,s:{s:s}},{s:s,s:s,s:[],s:i,s:n}]", "a",
                             "=cmd()", "b", "x,\"y\"", "c", "+1", "two", "n", -5, "d", "serial",
                             "@ab", "a", "-2", "b", "plain", "c", "n", 7, "d");
    const char *const cols[] = {"a", "b", "c", "n", "d.serial", NULL};
    size_t len = 0;
    char *csv = cin_csv_from_json(rows, cols, &len);

    ck_assert_ptr_nonnull(csv);
    ck_assert_str_eq(csv, "a,b,c,n,d.serial\r\n"
                          "\"'=cmd()\",\"x,\"\"y\"\"\",\"'+1 two\",\"'-5\",\"'@ab\"\r\n"
                          "\"'-2\",plain,,7,\r\n");
    ck_assert_uint_eq(len, strlen(csv));
    free(csv);
    json_decref(rows);
}
END_TEST

START_TEST(csv_exports)
{
    hresp r;
    char *line;

    issued(U_ADMIN, "[\"csv.example.com\"]");
    r = call(F, U_ADMIN, "GET", "/api/v1/orders?format=csv", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.ctype, "text/csv; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(hresp_header(&r, "Content-Disposition"), "orders.csv"));
    line = strstr(r.body, "\r\n");
    ck_assert_ptr_nonnull(line);
    ck_assert(!strncmp(r.body, "id,order_number,status,", 23));
    ck_assert_ptr_nonnull(strstr(line, "R-000001,CIN-000001,issued,dv-ssl,csv.example.com"));
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/certificates?format=csv", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "R-000001,csv.example.com,csv.example.com,"));
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/ledger?format=csv", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    /* a debit starts with '-': a spreadsheet would read a formula, so it is neutralised */
    ck_assert_ptr_nonnull(strstr(r.body, ",\"'-10\",990,R-000001,"));
    hresp_free(&r);
    /* the ledger stays an administrator's */
    r = call(F, U_BASIC, "GET", "/api/v1/ledger?format=csv", NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
    /* without format=csv: JSON as before */
    r = call(F, U_ADMIN, "GET", "/api/v1/orders", NULL, NULL);
    ck_assert_ptr_nonnull(json_object_get(r.json, "orders"));
    hresp_free(&r);
}
END_TEST

static int found(int u, const char *q)
{
    char path[200];
    hresp r;
    int n;

    snprintf(path, sizeof(path), "/api/v1/orders?q=%s", q);
    r = call(F, u, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    n = (int)json_array_size(json_object_get(r.json, "orders"));
    hresp_free(&r);
    return n;
}

START_TEST(search_by_ids_and_requester)
{
    issued(U_ADMIN, "[\"one.example.com\"]");                 /* R-000001, CIN-000001, ann */
    order_new(F, U_BASIC, "dv-ssl", "[\"two.example.com\"]"); /* R-000002, bob */
    ck_assert_int_eq(found(U_ADMIN, "R-000002"), 1);
    ck_assert_int_eq(found(U_ADMIN, "r-2"), 1);
    ck_assert_int_eq(found(U_ADMIN, "CIN-000001"), 1);
    ck_assert_int_eq(found(U_ADMIN, "cin-2"), 0); /* R-000002 is not paid */
    ck_assert_int_eq(found(U_ADMIN, "bob"), 1);
    ck_assert_int_eq(found(U_ADMIN, "ann"), 1);
    ck_assert_int_eq(found(U_ADMIN, "example.com"), 2);
    ck_assert_int_eq(found(U_ADMIN, "nobody"), 0);
    /* a basic user still sees only their own orders */
    ck_assert_int_eq(found(U_BASIC, "R-000001"), 0);
    ck_assert_int_eq(found(U_BASIC, "ann"), 0);
}
END_TEST

static int audit_count(const char *query)
{
    char path[256];
    hresp r;
    int n;

    snprintf(path, sizeof(path), "/api/v1/audit?%s", query);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    n = (int)json_array_size(json_object_get(r.json, "events"));
    hresp_free(&r);
    return n;
}

START_TEST(audit_filters)
{
    hresp r;

    issued(U_ADMIN, "[\"aud.example.com\"]");
    order_new(F, U_BASIC, "dv-ssl", "[\"aud2.example.com\"]");
    ck_assert_int_eq(audit_count("action=order.create"), 2);
    ck_assert_int_eq(audit_count("action=order.create&actor=bob"), 1);
    ck_assert_int_eq(audit_count("actor=agent&action=order.issued"), 1);
    ck_assert_int_eq(audit_count("actor=nobody"), 0);
    ck_assert_int_eq(audit_count("since=2000-01-01&action=order.pay"), 1);
    ck_assert_int_eq(audit_count("until=2000-01-01"), 0);
    ck_assert_int_eq(audit_count("since=2999-01-01"), 0);
    r = call(F, U_ADMIN, "GET", "/api/v1/audit?since=yesterday", NULL, NULL);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(jstr(&r, "field"), "since");
    hresp_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("page_api");
    TCase *tc = tcase_create("page_api");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pkcs12_for_admins_audited);
    tcase_add_test(tc, csv_cells_neutralised);
    tcase_add_test(tc, csv_exports);
    tcase_add_test(tc, search_by_ids_and_requester);
    tcase_add_test(tc, audit_filters);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
