/*
 * test_http.c - the HTTP entry point: authentication, sessions and CSRF,
 * login throttling, every bad-input rule (answered with problem+json and
 * nothing written), challenges, the web page's files, and the account,
 * user, token, certificate, audit and health endpoints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

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

/* ---- authentication ------------------------------------------------------- */

START_TEST(unauthenticated)
{
    const char *bad[] = {"Authorization: Bearer cin_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                         NULL};
    const char *basic[] = {"Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", NULL};
    hresp r = call(F, -1, "GET", "/api/v1/orders", NULL, NULL);

    ck_assert_int_eq(r.status, 401);
    ck_assert_str_eq(r.ctype, "application/problem+json");
    ck_assert_str_eq(problem_code(&r), "unauthorized");
    ck_assert_str_eq(jstr(&r, "title"), "Unauthorized");
    hresp_free(&r);
    r = call(F, -1, "GET", "/api/v1/orders", NULL, bad);
    ck_assert_int_eq(r.status, 401);
    hresp_free(&r);
    r = call(F, -1, "GET", "/api/v1/orders", NULL, basic);
    ck_assert_int_eq(r.status, 401);
    hresp_free(&r);
    /* health needs no authentication and shows no secrets */
    r = call(F, -1, "GET", "/api/v1/health", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "store"), "ok");
    ck_assert(json_is_integer(json_object_get(r.json, "generation")));
    ck_assert_uint_eq(json_object_size(r.json), 2);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/nothing-here", NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
    r = call(F, U_ADMIN, "DELETE", "/api/v1/orders", NULL, NULL);
    ck_assert_int_eq(r.status, 405);
    hresp_free(&r);
}
END_TEST

static char *login(const char *user, const char *password, int *status, char **csrf)
{
    char body[256];
    hresp r;
    const char *cookie;
    char *sid = NULL;

    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, password);
    r = call(F, -1, "POST", "/api/v1/session", body, NULL);
    *status = r.status;
    cookie = hresp_header(&r, "Set-Cookie");
    if (r.status == 200) {
        ck_assert_ptr_nonnull(cookie);
        ck_assert_ptr_nonnull(strstr(cookie, "HttpOnly"));
        ck_assert_ptr_nonnull(strstr(cookie, "Secure"));
        ck_assert_ptr_nonnull(strstr(cookie, "SameSite=Strict"));
        sid = strndup(cookie, strcspn(cookie, ";"));
        if (csrf)
            *csrf = strdup(jstr(&r, "csrf_token"));
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(r.json, "user"), "role")), "admin");
    } else {
        ck_assert_ptr_null(cookie);
    }
    hresp_free(&r);
    return sid;
}

START_TEST(session_cookie_and_csrf)
{
    char *csrf = NULL, *sid, cookie[256], csrf_hdr[256];
    int status;
    hresp r;

    sid = login("ann", "ann-password", &status, &csrf);
    ck_assert_int_eq(status, 200);
    snprintf(cookie, sizeof(cookie), "Cookie: theme=dark; %s", sid);
    snprintf(csrf_hdr, sizeof(csrf_hdr), "X-CSRF-Token: %s", csrf);
    {
        const char *h[] = {cookie, NULL};
        const char *hc[] = {cookie, csrf_hdr, NULL};
        const char *wrong[] = {cookie, "X-CSRF-Token: nope", NULL};
        const char *body = "{\"product\":\"dv-ssl\",\"common_name\":\"s.example.com\"}";
        long long orders = count_rows(F, "orders");

        r = call(F, -1, "GET", "/api/v1/account", NULL, h);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(jstr(&r, "name"), "acme");
        hresp_free(&r);
        /* the page learns who it is, and its CSRF token again after a reload */
        r = call(F, -1, "GET", "/api/v1/session", NULL, h);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(jstr(&r, "csrf_token"), csrf);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_object_get(r.json, "user"), "name")), "ann");
        hresp_free(&r);
        r = call(F, U_BASIC, "GET", "/api/v1/session", NULL, NULL);
        ck_assert_int_eq(r.status, 200);
        ck_assert_ptr_null(json_object_get(r.json, "csrf_token")); /* a token has no CSRF */
        hresp_free(&r);
        r = call(F, -1, "GET", "/api/v1/session", NULL, NULL);
        ck_assert_int_eq(r.status, 401);
        hresp_free(&r);
        /* a state change with the cookie needs the CSRF header */
        r = call(F, -1, "POST", "/api/v1/orders", body, h);
        ck_assert_int_eq(r.status, 403);
        hresp_free(&r);
        r = call(F, -1, "POST", "/api/v1/orders", body, wrong);
        ck_assert_int_eq(r.status, 403);
        hresp_free(&r);
        ck_assert_int_eq(count_rows(F, "orders"), orders);
        r = call(F, -1, "POST", "/api/v1/orders", body, hc);
        ck_assert_int_eq(r.status, 201);
        hresp_free(&r);
        /* logout ends the session */
        r = call(F, -1, "DELETE", "/api/v1/session", NULL, hc);
        ck_assert_int_eq(r.status, 204);
        ck_assert_ptr_nonnull(strstr(hresp_header(&r, "Set-Cookie"), "Max-Age=0"));
        hresp_free(&r);
        r = call(F, -1, "GET", "/api/v1/account", NULL, h);
        ck_assert_int_eq(r.status, 401);
        hresp_free(&r);
    }
    free(sid);
    free(csrf);
}
END_TEST

START_TEST(login_failures_and_throttle)
{
    int status, i;
    char *sid;

    sid = login("ann", "wrong", &status, NULL);
    ck_assert_int_eq(status, 401);
    sid = login("nobody", "whatever", &status, NULL);
    ck_assert_int_eq(status, 401);
    /* a user without a password (token-only) cannot log in */
    sid = login("sam", "", &status, NULL);
    ck_assert_int_eq(status, 401);
    for (i = 0; i < 4; i++) {
        sid = login("ann", "wrong-again", &status, NULL);
        ck_assert_ptr_null(sid);
    }
    /* five failures of this (user, peer) pair: refused at once, even with the
     * right password, with a Retry-After of at most the 15 minute window */
    sid = login("ann", "ann-password", &status, NULL);
    ck_assert_int_eq(status, 429);
    ck_assert_ptr_null(sid);
    {
        hresp r = call(F, -1, "POST", "/api/v1/session",
                       "{\"username\":\"ann\",\"password\":\"ann-password\"}", NULL);
        ck_assert_str_eq(problem_code(&r), "rate_limited");
        ck_assert_ptr_nonnull(hresp_header(&r, "Retry-After"));
        ck_assert_int_gt(atoi(hresp_header(&r, "Retry-After")), 0);
        ck_assert_int_le(atoi(hresp_header(&r, "Retry-After")), 900);
        ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "try again"));
        hresp_free(&r);
    }
    /* failed logins are audited, never with the password */
    {
        char *out = store_query(F, "SELECT count(*) FROM order_events WHERE action = "
                                   "'session.login_failed'"),
             cmd[256];
        /* the two refusals were not counted, nor audited as failures */
        ck_assert_str_eq(out, "7\n");
        free(out);
        if (!store_is_pg(F)) {
            snprintf(cmd, sizeof(cmd), "grep -c wrong-again %s", F->path);
            run(cmd, &out);
            ck_assert_str_eq(out, "0\n");
            free(out);
        }
    }
}
END_TEST

/* ---- bad input: the right code, and nothing written ----------------------------- */

static long long writes(void)
{
    return count_rows(F, "orders") * 1000000 + count_rows(F, "order_events") * 1000 +
           count_rows(F, "ledger");
}

static void bad_order(const char *body, const char *ctype, int want, const char *code,
                      const char *detail_part)
{
    const char *h[] = {ctype, NULL};
    long long before = writes();
    hresp r = call(F, U_BASIC, "POST", "/api/v1/orders", body, ctype ? h : NULL);

    ck_assert_msg(r.status == want, "%s: got %d, wanted %d (%s)", body, r.status, want,
                  r.body ? r.body : "");
    ck_assert_str_eq(r.ctype, "application/problem+json");
    ck_assert_str_eq(problem_code(&r), code);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "status")), want);
    if (detail_part)
        ck_assert_msg(strstr(jstr(&r, "detail"), detail_part), "detail '%s' lacks '%s'",
                      jstr(&r, "detail"), detail_part);
    hresp_free(&r);
    ck_assert_int_eq(writes(), before);
}

static char *csr_with_key(EVP_PKEY *k, const char *names_csv)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL, *csr = NULL, *data, *copy = strdup(names_csv), *save = NULL, *tok;
    char *names[8];
    size_t n = 0;
    long len;

    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        names[n++] = tok;
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    len = BIO_get_mem_data(b, &data);
    pem = strndup(data, (size_t)len);
    ck_assert_int_eq(cin_csr_build(pem, names, n, &csr), CIN_OK);
    BIO_free(b);
    free(pem);
    free(copy);
    return csr;
}

/* A CSR whose signature byte was flipped after signing. */
static char *broken_signature(const char *csr_pem)
{
    BIO *in = BIO_new_mem_buf(csr_pem, -1), *out = BIO_new(BIO_s_mem());
    char *name = NULL, *hdr = NULL, *data, *res;
    unsigned char *der = NULL;
    long len = 0, plen;

    ck_assert_int_eq(PEM_read_bio(in, &name, &hdr, &der, &len), 1);
    der[len - 3] ^= 0x5a;
    PEM_write_bio(out, name, hdr, der, len);
    plen = BIO_get_mem_data(out, &data);
    res = strndup(data, (size_t)plen);
    OPENSSL_free(name);
    OPENSSL_free(hdr);
    OPENSSL_free(der);
    BIO_free(in);
    BIO_free(out);
    return res;
}

START_TEST(bad_inputs)
{
    char big[70 * 1024], sans[8192], *body, *q;
    EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *good = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *csr;
    size_t i, k;

    bad_order("{\"product\":\"dv-ssl\",", NULL, 400, "bad_request", "not valid JSON");
    bad_order("[1,2]", NULL, 400, "bad_request", "JSON object");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"a.example.com\"}",
              "Content-Type: text/plain", 415, "unsupported_media_type", "application/json");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"a.example.com\"}",
              "Content-Type: application/x-www-form-urlencoded", 415, "unsupported_media_type",
              NULL);
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    bad_order(big, NULL, 413, "payload_too_large", "65536");
    bad_order("{\"product\":\"dv-gold\",\"common_name\":\"a.example.com\"}", NULL, 400,
              "bad_request", "no product");
    bad_order("{\"common_name\":\"a.example.com\"}", NULL, 400, "bad_request", "product");
    bad_order("{\"product\":\"dv-ssl\"}", NULL, 400, "bad_request", "common_name");
    bad_order("{\"product\":7,\"common_name\":\"a.example.com\"}", NULL, 400, "bad_request",
              "must be a string");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"a.example.com\",\"sans\":\"x\"}", NULL,
              400, "bad_request", "array");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"a.example.com\",\"sans\":[1]}", NULL, 400,
              "bad_request", "strings");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"a.example.com\",\"validity_days\":201}",
              NULL, 400, "bad_request", "valid for 1 to 200");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"a.example.com\",\"key_type\":\"dsa\"}",
              NULL, 400, "bad_request", "key type is one of");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"a.example.com\",\"auto_renew\":\"yes\"}",
              NULL, 400, "bad_request", "true or false");
    /* 101 names on a 100-name product */
    k = (size_t)snprintf(sans, sizeof(sans),
                         "{\"product\":\"dv-multi\",\"common_name\":"
                         "\"n0.example.com\",\"sans\":[");
    for (i = 1; i <= 100; i++)
        k += (size_t)snprintf(sans + k, sizeof(sans) - k, "%s\"n%zu.example.com\"",
                              i > 1 ? "," : "", i);
    snprintf(sans + k, sizeof(sans) - k, "]}");
    bad_order(sans, NULL, 400, "bad_request", "at most 100");
    /* a second name on a single-name product */
    bad_order(
        "{\"product\":\"dv-ssl\",\"common_name\":\"a.example.com\",\"sans\":[\"b.example.com\"]}",
        NULL, 400, "bad_request", "at most 1 name");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"*.example.com\"}", NULL, 400,
              "invalid_domain", "wildcard");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"a..b.com\"}", NULL, 400, "invalid_domain",
              "empty label");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"192.0.2.10\"}", NULL, 400,
              "invalid_domain", "IP address");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"nas.lan\"}", NULL, 400, "invalid_domain",
              "intranet-ssl");
    bad_order("{\"product\":\"dv-wildcard\",\"common_name\":\"*.example.com\",\"sans\":"
              "[\"other.example.com\"]}",
              NULL, 400, "invalid_domain", "covers");
    /* CSRs */
    csr = csr_with_key(weak, "w.example.com");
    q = json_quote(csr);
    body = cin_asprintf("{\"product\":\"dv-ssl\",\"common_name\":\"w.example.com\","
                        "\"key_source\":\"csr\",\"csr\":%s}",
                        q);
    bad_order(body, NULL, 400, "weak_key", "1024 bits");
    free(body);
    free(q);
    free(csr);
    csr = csr_with_key(good, "w.example.com,x.example.com");
    q = json_quote(csr);
    body = cin_asprintf("{\"product\":\"dv-ssl\",\"common_name\":\"w.example.com\","
                        "\"key_source\":\"csr\",\"csr\":%s}",
                        q);
    bad_order(body, NULL, 400, "invalid_csr", "x.example.com");
    free(body);
    free(q);
    {
        char *broken = broken_signature(csr);
        free(csr);
        csr = csr_with_key(good, "w.example.com");
        free(broken);
        broken = broken_signature(csr);
        q = json_quote(broken);
        body = cin_asprintf("{\"product\":\"dv-ssl\",\"common_name\":\"w.example.com\","
                            "\"key_source\":\"csr\",\"csr\":%s}",
                            q);
        bad_order(body, NULL, 400, "invalid_csr", "signature");
        free(body);
        free(q);
        free(broken);
    }
    free(csr);
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"w.example.com\",\"key_source\":\"csr\","
              "\"csr\":\"-----BEGIN CERTIFICATE REQUEST-----\\nAAAA\\n-----END CERTIFICATE "
              "REQUEST-----\\n\"}",
              NULL, 400, "invalid_csr", "does not parse");
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"w.example.com\",\"key_source\":\"csr\","
              "\"csr\":\"hello\"}",
              NULL, 400, "invalid_csr", "PEM");
    EVP_PKEY_free(weak);
    EVP_PKEY_free(good);
}
END_TEST

START_TEST(sql_looking_strings_are_harmless)
{
    const char *reason = "x'); DROP TABLE orders; -- \\\" OR 1=1";
    char id[32], body[256], path[96];
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"sql.example.com\"]"));
    snprintf(body, sizeof(body), "{\"reason\":\"%s\"}", reason);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/reject", id);
    r = call(F, U_ADMIN, "POST", path, body, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "rejection_reason"), "x'); DROP TABLE orders; -- \" OR 1=1");
    hresp_free(&r);
    ck_assert_int_ge(count_rows(F, "orders"), 1);
    /* a search for it is literal too */
    r = call(F, U_ADMIN, "GET", "/api/v1/orders?q=%27%20OR%201%3D1%20--", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "orders")), 0);
    hresp_free(&r);
    /* and a name that looks like SQL is simply not a DNS name */
    bad_order("{\"product\":\"dv-ssl\",\"common_name\":\"a.com' OR '1'='1\"}", NULL, 400,
              "invalid_domain", NULL);
}
END_TEST

/* ---- challenges and the page ------------------------------------------------------- */

START_TEST(challenges)
{
    hresp r;

    r = call(F, -1, "GET", "/.well-known/acme-challenge/unknown-token", NULL, NULL);
    ck_assert_int_eq(r.declined, 1); /* passed on to the server's next handler */
    hresp_free(&r);
    ck_assert_int_eq(cin_store_challenge_put(F->st, "acme", "tok-123_ABC", "tok-123_ABC.thumb", 0,
                                             time(NULL) + 600),
                     CIN_OK);
    ck_assert_int_eq(
        cin_store_challenge_put(F->st, "pki", "fileauth.txt", "ca-says-hello", 0, time(NULL) + 600),
        CIN_OK);
    ck_assert_int_eq(cin_store_challenge_put(F->st, "acme", "old", "old.x", 0, time(NULL) - 1),
                     CIN_OK);
    settle(F);
    r = call(F, -1, "GET", "/.well-known/acme-challenge/tok-123_ABC", NULL, NULL);
    ck_assert_int_eq(r.declined, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "tok-123_ABC.thumb");
    hresp_free(&r);
    r = call(F, -1, "GET", "/.well-known/pki-validation/fileauth.txt", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ca-says-hello");
    hresp_free(&r);
    r = call(F, -1, "GET", "/.well-known/acme-challenge/old", NULL, NULL);
    ck_assert_int_eq(r.declined, 1); /* expired */
    hresp_free(&r);
    r = call(F, -1, "GET", "/.well-known/acme-challenge/../../etc/passwd", NULL, NULL);
    ck_assert_int_eq(r.declined, 1);
    hresp_free(&r);
    r = call(F, -1, "POST", "/.well-known/acme-challenge/tok-123_ABC", "{}", NULL);
    ck_assert_int_eq(r.declined, 1);
    hresp_free(&r);
}
END_TEST

START_TEST(web_page_files)
{
    const char *etag;
    char inm[128];
    hresp r = call(F, -1, "GET", "/", NULL, NULL);

    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.ctype, "text/html; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(r.body, "<!doctype html>"));
    ck_assert_ptr_nonnull(strstr(hresp_header(&r, "Content-Security-Policy"), "script-src 'self'"));
    ck_assert_ptr_null(strstr(hresp_header(&r, "Content-Security-Policy"), "unsafe-inline"));
    etag = hresp_header(&r, "ETag");
    ck_assert_ptr_nonnull(etag);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    hresp_free(&r);
    {
        const char *h[] = {inm, NULL};
        r = call(F, -1, "GET", "/index.html", NULL, h);
        ck_assert_int_eq(r.status, 304);
        hresp_free(&r);
    }
    r = call(F, -1, "GET", "/app.js", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.ctype, "text/javascript; charset=utf-8");
    hresp_free(&r);
    r = call(F, -1, "GET", "/style.css", NULL, NULL);
    ck_assert_str_eq(r.ctype, "text/css; charset=utf-8");
    hresp_free(&r);
    r = call(F, -1, "GET", "/nope.js", NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
}
END_TEST

/* ---- account, users, tokens, reports ------------------------------------------------- */

START_TEST(products_account_ledger)
{
    hresp r = call(F, U_BASIC, "GET", "/api/v1/products", NULL, NULL);
    json_t *p;
    size_t i;
    int seen = 0;

    ck_assert_int_eq(r.status, 200);
    json_array_foreach(json_object_get(r.json, "products"), i, p)
    {
        if (!strcmp(json_string_value(json_object_get(p, "code")), "dv-wildcard")) {
            ck_assert(json_is_true(json_object_get(p, "wildcard")));
            ck_assert_int_eq(json_integer_value(json_object_get(p, "price")), 50);
            seen++;
        }
    }
    ck_assert_int_eq(seen, 1);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "products")), 6);
    hresp_free(&r);
    r = call(F, U_BASIC, "GET", "/api/v1/account", NULL, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "credits")), 1000);
    hresp_free(&r);
    r = call(F, U_BASIC, "GET", "/api/v1/ledger", NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
    r = call(F, U_STANDARD, "GET", "/api/v1/audit", NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
}
END_TEST

START_TEST(users_api)
{
    hresp r;

    r = call(F, U_STANDARD, "GET", "/api/v1/users", NULL, NULL);
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/users", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "users")), 6); /* not oscar */
    ck_assert_ptr_null(strstr(r.body, "oscar"));
    ck_assert_ptr_null(strstr(r.body, "scrypt"));
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/api/v1/users",
             "{\"name\":\"carol\",\"role\":\"standard\",\"password\":\"carol-password\","
             "\"authorized_signatory\":true}",
             NULL);
    ck_assert_int_eq(r.status, 201);
    ck_assert(json_is_true(json_object_get(r.json, "authorized_signatory")));
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/api/v1/users", "{\"name\":\"carol\",\"role\":\"basic\"}", NULL);
    ck_assert_int_eq(r.status, 409);
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/api/v1/users", "{\"name\":\"Bad Name\",\"role\":\"basic\"}",
             NULL);
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/api/v1/users", "{\"name\":\"dan\",\"role\":\"god\"}", NULL);
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    r = call(F, U_ADMIN, "PATCH", "/api/v1/users/bob", "{\"role\":\"standard\"}", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "role"), "standard");
    hresp_free(&r);
    r = call(F, U_ADMIN, "PATCH", "/api/v1/users/oscar", "{\"disabled\":true}", NULL);
    ck_assert_int_eq(r.status, 404); /* another account's user */
    hresp_free(&r);
    r = call(F, U_ADMIN, "PATCH", "/api/v1/users/ann", "{\"disabled\":true}", NULL);
    ck_assert_int_eq(r.status, 409);
    hresp_free(&r);
    /* disabling a user stops their token at once */
    r = call(F, U_ADMIN, "PATCH", "/api/v1/users/bea", "{\"disabled\":true}", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    r = call(F, U_BASIC2, "GET", "/api/v1/account", NULL, NULL);
    ck_assert_int_eq(r.status, 401);
    hresp_free(&r);
}
END_TEST

START_TEST(tokens_api)
{
    hresp r;
    char path[64], tok[128];
    long long id;

    r = call(F, U_BASIC, "POST", "/api/v1/tokens", "{\"name\":\"panel\",\"expires_in_days\":30}",
             NULL);
    ck_assert_int_eq(r.status, 201);
    ck_assert_ptr_nonnull(jstr(&r, "token"));
    ck_assert_ptr_nonnull(jstr(&r, "expires_at"));
    snprintf(tok, sizeof(tok), "%s", jstr(&r, "token"));
    id = json_integer_value(json_object_get(r.json, "id"));
    hresp_free(&r);
    /* the list never shows a secret */
    r = call(F, U_BASIC, "GET", "/api/v1/tokens", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "tokens")), 2);
    ck_assert_ptr_null(strstr(r.body, tok));
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/tokens", NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "tokens")), 7);
    hresp_free(&r);
    r = call(F, U_BASIC, "POST", "/api/v1/tokens", "{\"expires_in_days\":30}", NULL);
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/tokens/%lld", id);
    r = call(F, U_BASIC2, "DELETE", path, NULL, NULL);
    ck_assert_int_eq(r.status, 404); /* not hers */
    hresp_free(&r);
    r = call(F, U_OTHER_ADMIN, "DELETE", path, NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
    r = call(F, U_BASIC, "DELETE", path, NULL, NULL);
    ck_assert_int_eq(r.status, 204);
    hresp_free(&r);
    r = call(F, U_BASIC, "DELETE", path, NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
}
END_TEST

START_TEST(certificates_and_audit)
{
    char id[32], path[96];
    hresp r;

    snprintf(id, sizeof(id), "%s", order_new(F, U_BASIC, "dv-ssl", "[\"rep.example.com\"]"));
    snprintf(path, sizeof(path), "/api/v1/orders/%s/approve", id);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s/pay", id);
    r = call(F, U_BASIC, "POST", path, NULL, NULL);
    hresp_free(&r);
    agent_pass(F);
    r = call(F, U_BASIC, "GET", "/api/v1/certificates", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "certificates")), 1);
    ck_assert_int_ge(json_integer_value(json_object_get(
                         json_array_get(json_object_get(r.json, "certificates"), 0), "days_left")),
                     199);
    hresp_free(&r);
    r = call(F, U_BASIC2, "GET", "/api/v1/certificates", NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "certificates")), 0);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/certificates?expiring_within_days=30", NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "certificates")), 0);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/certificates?expiring_within_days=365", NULL, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "certificates")), 1);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/certificates?expiring_within_days=x", NULL, NULL);
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    r = call(F, U_ADMIN, "GET", "/api/v1/audit?limit=2", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "events")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r.json, "events"), 0), "action")),
                     "order.issued");
    ck_assert_ptr_nonnull(jstr(&r, "next_cursor"));
    hresp_free(&r);
    r = call(F, U_OTHER_ADMIN, "GET", "/api/v1/audit", NULL, NULL);
    ck_assert_ptr_null(strstr(r.body, "rep.example.com"));
    ck_assert_ptr_null(strstr(r.body, id));
    hresp_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, unauthenticated);
    tcase_add_test(tc, session_cookie_and_csrf);
    tcase_add_test(tc, login_failures_and_throttle);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, sql_looking_strings_are_harmless);
    tcase_add_test(tc, challenges);
    tcase_add_test(tc, web_page_files);
    tcase_add_test(tc, products_account_ledger);
    tcase_add_test(tc, users_api);
    tcase_add_test(tc, tokens_api);
    tcase_add_test(tc, certificates_and_audit);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
