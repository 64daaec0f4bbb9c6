/*
 * test_account_security.c - logins an enterprise trusts (account_security.c,
 * totp.c): RFC 6238 vectors, TOTP enrolment and login through
 * cin_http_handle() with codes computed here (wrong, replayed, drift of one
 * step either way, two steps refused), recovery codes used once, the
 * enforced second factor, peer allowlists (IPv4 and IPv6) for logins and
 * API calls, and login with a registered client certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cin_security.h"
#include "cin_store_order.h"
#include "cin_totp.h"
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

static void expect(hresp r, int status, const char *code)
{
    ck_assert_msg(r.status == status, "got %d, expected %d: %s", r.status, status,
                  r.body ? r.body : "");
    if (code)
        ck_assert_str_eq(problem_code(&r), code);
    hresp_free(&r);
}

/* RFC 4648 base32 (no padding) -> bytes. */
static size_t base32_decode(const char *in, unsigned char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned buf = 0;
    int bits = 0;
    size_t k = 0;

    for (; *in; in++) {
        const char *p = strchr(abc, *in);
        ck_assert_ptr_nonnull(p);
        buf = (buf << 5) | (unsigned)(p - abc);
        bits += 5;
        if (bits >= 8) {
            out[k++] = (unsigned char)(buf >> (bits - 8));
            bits -= 8;
        }
    }
    return k;
}

START_TEST(rfc6238_vectors_and_encodings)
{
    static const unsigned char key[] = "12345678901234567890";
    char *b, *uri, *svg;

    /* RFC 6238 appendix B (SHA-1), the last 6 digits */
    ck_assert_uint_eq(cin_totp_code(key, 20, 59 / 30), 287082);
    ck_assert_uint_eq(cin_totp_code(key, 20, 1111111109 / 30), 81804);
    ck_assert_uint_eq(cin_totp_code(key, 20, 1234567890 / 30), 5924);
    ck_assert_uint_eq(cin_totp_code(key, 20, 2000000000 / 30), 279037);
    b = cin_base32((const unsigned char *)"foobar", 6);
    ck_assert_str_eq(b, "MZXW6YTBOI");
    free(b);
    uri = cin_totp_uri("certinext", "ann smith", key, 20);
    ck_assert_str_eq(uri, "otpauth://totp/certinext:ann%20smith?secret="
                          "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=certinext&algorithm=SHA1&"
                          "digits=6&period=30");
    svg = cin_qr_svg(uri);
    ck_assert_ptr_nonnull(svg);
    ck_assert(!strncmp(svg, "<svg ", 5) && strstr(svg, "</svg>") && strstr(svg, "M4 4h1v1h-1z"));
    free(uri);
    free(svg);
    {
        uint64_t step = 0;
        char code[8];
        snprintf(code, sizeof(code), "%06u", cin_totp_code(key, 20, 1000));
        ck_assert(cin_totp_verify(key, 20, code, 1000 * 30 + 5, 0, &step) && step == 1000);
        ck_assert(cin_totp_verify(key, 20, code, 1001 * 30 + 5, 0, &step) && step == 1000);
        ck_assert(cin_totp_verify(key, 20, code, 999 * 30 + 5, 0, &step) && step == 1000);
        ck_assert(!cin_totp_verify(key, 20, code, 1002 * 30 + 5, 0, &step));
        ck_assert(!cin_totp_verify(key, 20, code, 998 * 30 + 5, 0, &step));
        ck_assert(!cin_totp_verify(key, 20, code, 1000 * 30 + 5, 1000, &step)); /* used */
        ck_assert(!cin_totp_verify(key, 20, "12345", 1000 * 30, 0, &step));
        ck_assert(!cin_totp_verify(key, 20, "12a456", 1000 * 30, 0, &step));
    }
}
END_TEST

START_TEST(allowlists)
{
    char *out = NULL, *bad = NULL;

    ck_assert(cin_ip_allowed("", "203.0.113.9"));
    ck_assert(cin_ip_allowed(NULL, "203.0.113.9"));
    ck_assert(cin_ip_allowed("127.0.0.1", "127.0.0.1"));
    ck_assert(!cin_ip_allowed("127.0.0.1", "127.0.0.2"));
    ck_assert(cin_ip_allowed("10.0.0.0/8,127.0.0.2/32", "127.0.0.2"));
    ck_assert(cin_ip_allowed("192.0.2.0/25", "192.0.2.127"));
    ck_assert(!cin_ip_allowed("192.0.2.0/25", "192.0.2.128"));
    ck_assert(cin_ip_allowed("192.0.2.0/24", "::ffff:192.0.2.5"));
    ck_assert(cin_ip_allowed("2001:db8::/32", "2001:db8:1::5"));
    ck_assert(!cin_ip_allowed("2001:db8::/32", "2001:db9::5"));
    ck_assert(!cin_ip_allowed("2001:db8::/32", "192.0.2.5"));
    ck_assert(cin_ip_allowed("0.0.0.0/0", "198.51.100.1"));
    ck_assert(!cin_ip_allowed("10.0.0.0/8", "not-an-address"));
    ck_assert(!cin_ip_allowed("10.0.0.0/8", NULL));
    ck_assert_int_eq(cin_ip_allowlist_parse(" 10.0.0.0/8 ,2001:db8::/32", &out, &bad), CIN_OK);
    ck_assert_str_eq(out, "10.0.0.0/8,2001:db8::/32");
    free(out);
    ck_assert_int_eq(cin_ip_allowlist_parse("10.0.0.0/33", &out, &bad), CIN_EINVAL);
    ck_assert_str_eq(bad, "10.0.0.0/33");
    free(bad);
    ck_assert_int_eq(cin_ip_allowlist_parse("example.com", &out, &bad), CIN_EINVAL);
    free(bad);
}
END_TEST

static hresp login_from(const char *peer, const char *totp)
{
    char body[200];

    if (totp)
        snprintf(body, sizeof(body),
                 "{\"username\":\"ann\",\"password\":\"ann-password\",\"totp\":\"%s\"}", totp);
    else
        snprintf(body, sizeof(body), "{\"username\":\"ann\",\"password\":\"ann-password\"}");
    return call_from(F, -1, peer, "POST", "/api/v1/session", body, NULL);
}

static void code_at(const unsigned char *secret, size_t len, long step, char out[8])
{
    snprintf(out, 8, "%06u", cin_totp_code(secret, len, (uint64_t)step));
}

static long count_events(const char *action)
{
    char sql[160], *out;
    long n;

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM order_events WHERE action = '%s'", action);
    out = store_query(F, sql);
    n = atol(out);
    free(out);
    return n;
}

/* The TOTP step the server uses: the fixture's clock stopped in the middle of
 * the current step (fix_clock), so that a test never straddles a step's end
 * whenever it runs and however slowly. */
static long t_step;

static void fix_clock(void)
{
    t_step = (long)(time(NULL) / 30);
    harness_set_now((time_t)t_step * 30 + 15);
}

/* Enrol ann; the secret in secret[], the recovery codes in *codes (json). */
static size_t enrol(unsigned char *secret, json_t **codes)
{
    char code[8], body[64];
    size_t len;
    hresp r;

    fix_clock();
    r = call(F, U_ADMIN, "POST", "/api/v1/totp", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(!strncmp(jstr(&r, "otpauth_uri"), "otpauth://totp/certinext:ann?secret=", 36));
    ck_assert(!strncmp(jstr(&r, "qr_svg"), "<svg ", 5));
    len = base32_decode(jstr(&r, "secret"), secret);
    ck_assert_uint_eq(len, CIN_TOTP_SECRET_LEN);
    hresp_free(&r);
    /* not enrolled until confirmed: a login still needs no code */
    r = login_from("192.0.2.50", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    expect(call(F, U_ADMIN, "POST", "/api/v1/totp/confirm", "{\"code\":\"000000\"}", NULL), 400,
           "bad_request");
    code_at(secret, len, t_step - 1, code); /* the enrolment used step-1 at the latest */
    snprintf(body, sizeof(body), "{\"code\":\"%s\"}", code);
    r = call(F, U_ADMIN, "POST", "/api/v1/totp/confirm", body, NULL);
    ck_assert_int_eq(r.status, 200);
    *codes = json_incref(json_object_get(r.json, "recovery_codes"));
    ck_assert_int_eq(json_array_size(*codes), CIN_RECOVERY_CODES);
    hresp_free(&r);
    ck_assert_int_eq(count_events("user.totp_enrolled"), 1);
    return len;
}

START_TEST(totp_login_wrong_replayed_drift)
{
    unsigned char secret[64];
    char code[8];
    json_t *codes = NULL;
    size_t len;
    long step;
    hresp r;

    len = enrol(secret, &codes); /* the clock stopped: the server's step is t_step */
    step = t_step;
    /* a code is needed and missing: totp_required; a wrong one: unauthorized */
    expect(login_from("192.0.2.51", NULL), 401, "totp_required");
    expect(login_from("192.0.2.52", "123456x"), 401, "unauthorized");
    code_at(secret, len, step - 3, code);
    expect(login_from("192.0.2.52", code), 401, "unauthorized"); /* too old */
    code_at(secret, len, step + 2, code);
    expect(login_from("192.0.2.53", code), 401, "unauthorized"); /* too far ahead */
    /* the current step works, once */
    code_at(secret, len, step, code);
    r = login_from("192.0.2.54", code);
    ck_assert_int_eq(r.status, 200);
    ck_assert(json_is_true(json_object_get(json_object_get(r.json, "user"), "totp_enrolled")));
    hresp_free(&r);
    expect(login_from("192.0.2.55", code), 401, "unauthorized");
    /* one step of drift ahead is accepted; then nothing at or before it */
    code_at(secret, len, step + 1, code);
    expect(login_from("192.0.2.56", code), 200, NULL);
    code_at(secret, len, step, code);
    expect(login_from("192.0.2.57", code), 401, "unauthorized");
    /* a recovery code works once, in any case, with or without its dash */
    {
        char up[16];
        const char *rc0 = json_string_value(json_array_get(codes, 0));
        size_t i;
        for (i = 0; rc0[i] && i < sizeof(up) - 1; i++)
            up[i] = (char)(rc0[i] >= 'a' && rc0[i] <= 'z' ? rc0[i] - 32 : rc0[i]);
        up[i] = '\0';
        expect(login_from("192.0.2.58", up), 200, NULL);
        expect(login_from("192.0.2.59", rc0), 401, "unauthorized");
    }
    ck_assert_int_ge(count_events("session.totp_failed"), 5);
    ck_assert_int_eq(count_events("session.totp_required"), 1);
    ck_assert_int_eq(count_events("session.recovery_code_used"), 1);
    /* API tokens are unaffected */
    expect(call(F, U_ADMIN, "GET", "/api/v1/orders", NULL, NULL), 200, NULL);
    /* a second enrolment needs a reset; an administrator resets another's */
    expect(call(F, U_ADMIN, "POST", "/api/v1/totp", NULL, NULL), 409, "conflict");
    expect(call(F, U_STANDARD, "DELETE", "/api/v1/totp/ann", NULL, NULL), 403, NULL);
    expect(call(F, U_OTHER_ADMIN, "DELETE", "/api/v1/totp/ann", NULL, NULL), 404, NULL);
    expect(call(F, U_ADMIN2, "DELETE", "/api/v1/totp/ann", NULL, NULL), 204, NULL);
    ck_assert_int_eq(count_events("user.totp_reset"), 1);
    expect(login_from("192.0.2.60", NULL), 200, NULL);
    json_decref(codes);
}
END_TEST

/* The cookie of a login response, as a "Cookie:" header line (static). */
static const char *cookie_of(const hresp *r)
{
    static char line[256];
    const char *sc = hresp_header(r, "Set-Cookie");
    size_t n;

    ck_assert_ptr_nonnull(sc);
    n = strcspn(sc, ";");
    snprintf(line, sizeof(line), "Cookie: %.*s", (int)n, sc);
    return line;
}

START_TEST(enforced_second_factor_walks_through_enrolment)
{
    unsigned char secret[64];
    char code[8], csrf[128], hcsrf[160], body[64];
    const char *h[3];
    json_t *codes = NULL;
    hresp r;
    size_t len;

    fix_clock();
    expect(call(F, U_STANDARD, "PATCH", "/api/v1/accounts/acme", "{\"require_2fa\":true}", NULL),
           403, NULL);
    r = call(F, U_ADMIN, "PATCH", "/api/v1/accounts/acme", "{\"require_2fa\":true}", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(json_is_true(json_object_get(r.json, "require_2fa")));
    hresp_free(&r);
    r = login_from("192.0.2.70", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(
        json_is_true(json_object_get(json_object_get(r.json, "user"), "totp_enrolment_required")));
    snprintf(csrf, sizeof(csrf), "%s", jstr(&r, "csrf_token"));
    h[0] = cookie_of(&r);
    snprintf(hcsrf, sizeof(hcsrf), "X-CSRF-Token: %s", csrf);
    h[1] = hcsrf;
    h[2] = NULL;
    hresp_free(&r);
    /* the page session may only enrol */
    expect(call(F, -1, "GET", "/api/v1/orders", NULL, h), 403, "totp_enrolment_required");
    expect(call(F, -1, "GET", "/api/v1/totp", NULL, h), 200, NULL);
    r = call(F, -1, "POST", "/api/v1/totp", NULL, h);
    ck_assert_int_eq(r.status, 200);
    len = base32_decode(jstr(&r, "secret"), secret);
    hresp_free(&r);
    code_at(secret, len, t_step - 1, code);
    snprintf(body, sizeof(body), "{\"code\":\"%s\"}", code);
    r = call(F, -1, "POST", "/api/v1/totp/confirm", body, h);
    ck_assert_int_eq(r.status, 200);
    codes = json_incref(json_object_get(r.json, "recovery_codes"));
    hresp_free(&r);
    /* enrolled: the same session goes on */
    expect(call(F, -1, "GET", "/api/v1/orders", NULL, h), 200, NULL);
    /* and the next login needs the code; tokens never did */
    expect(login_from("192.0.2.71", NULL), 401, "totp_required");
    expect(call(F, U_STANDARD, "GET", "/api/v1/orders", NULL, NULL), 200, NULL);
    json_decref(codes);
}
END_TEST

/* Turning one's own second factor off needs proof: a session or token alone
 * is not enough (a review finding). */
START_TEST(totp_turn_off_needs_proof)
{
    unsigned char secret[64];
    json_t *codes = NULL;

    enrol(secret, &codes);
    expect(call(F, U_ADMIN, "DELETE", "/api/v1/totp", NULL, NULL), 400, "bad_request");
    expect(call(F, U_ADMIN, "DELETE", "/api/v1/totp", "{\"code\":\"not-a-code\"}", NULL), 403,
           "forbidden");
    expect(
        call(F, U_ADMIN, "DELETE", "/api/v1/totp/ann", "{\"password\":\"wrong-password\"}", NULL),
        403, "forbidden");
    ck_assert_int_eq(count_events("user.totp_off"), 0);
    expect(login_from("192.0.2.61", NULL), 401, "totp_required"); /* still on */
    expect(call(F, U_ADMIN, "DELETE", "/api/v1/totp", "{\"password\":\"ann-password\"}", NULL), 204,
           NULL);
    ck_assert_int_eq(count_events("user.totp_off"), 1);
    expect(login_from("192.0.2.62", NULL), 200, NULL);
    json_decref(codes);
}
END_TEST

START_TEST(allowlist_for_logins_and_api)
{
    hresp r;

    expect(call(F, U_ADMIN, "PATCH", "/api/v1/accounts/acme",
                "{\"ip_allowlist\":[\"127.0.0.1/32\",\"2001:db8::/32\"]}", NULL),
           200, NULL);
    /* the harness calls from 192.0.2.7: now outside the list */
    expect(call(F, U_STANDARD, "GET", "/api/v1/orders", NULL, NULL), 403, "forbidden");
    expect(call_from(F, U_STANDARD, "127.0.0.2", "GET", "/api/v1/orders", NULL, NULL), 403,
           "forbidden");
    expect(call_from(F, U_STANDARD, "127.0.0.1", "GET", "/api/v1/orders", NULL, NULL), 200, NULL);
    expect(call_from(F, U_STANDARD, "2001:db8::7", "GET", "/api/v1/orders", NULL, NULL), 200, NULL);
    /* another account is not concerned */
    expect(call(F, U_OTHER_ADMIN, "GET", "/api/v1/orders", NULL, NULL), 200, NULL);
    /* a login from outside: refused after the password, and audited */
    expect(login_from("127.0.0.2", NULL), 403, "forbidden");
    /* a wrong password from outside gets the same answer: no guessing from there */
    expect(call_from(F, -1, "127.0.0.2", "POST", "/api/v1/session",
                     "{\"username\":\"ann\",\"password\":\"not-the-password\"}", NULL),
           403, "forbidden");
    ck_assert_int_eq(count_events("session.login_refused_ip"), 2);
    r = login_from("127.0.0.1", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    /* bad entries change nothing */
    expect(call_from(F, U_ADMIN, "127.0.0.1", "PATCH", "/api/v1/accounts/acme",
                     "{\"ip_allowlist\":[\"127.0.0.1/40\"]}", NULL),
           400, "bad_request");
    expect(call_from(F, U_ADMIN, "127.0.0.1", "PATCH", "/api/v1/accounts/acme",
                     "{\"ip_allowlist\":[]}", NULL),
           200, NULL);
    expect(call(F, U_STANDARD, "GET", "/api/v1/orders", NULL, NULL), 200, NULL);
}
END_TEST

static const char *header_json_only(void *ud, const char *name)
{
    (void)ud;
    return !strcasecmp(name, "Content-Type") ? "application/json" : NULL;
}

/* A request as a glue makes it, with what the harness's calls cannot set. */
static hresp call_request(fixture *f, cin_request *req)
{
    hresp r;

    memset(&r, 0, sizeof(r));
    req->header = header_json_only;
    cin_http_handle(f->core, req, &r.raw);
    r.status = r.raw.status;
    r.body = r.raw.body;
    r.ctype = r.raw.content_type;
    if (r.body && r.ctype && strstr(r.ctype, "json"))
        r.json = json_loadb(r.body, r.raw.body_len, 0, NULL);
    return r;
}

/* A session login with a client certificate, as a glue passes it. */
static hresp cert_login(const char *pem, const char *body)
{
    cin_request req;

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = "/api/v1/session";
    req.body = body;
    req.body_len = strlen(body);
    req.peer = "192.0.2.90";
    req.tls = 1;
    req.client_cert_pem = pem;
    return call_request(F, &req);
}

START_TEST(client_certificate_login)
{
    char cmd[600], *pem = NULL, *dir = tmpdir_new(), *q, body[300];
    cin_client_cert cc;
    hresp r;

    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
             "%s/k.pem -out %s/c.pem -subj /CN=ann-laptop -days 2 2>/dev/null && cat %s/c.pem",
             dir, dir, dir);
    ck_assert_int_eq(run(cmd, &pem), 0);
    ck_assert_int_eq(cin_client_cert_parse(pem, &cc), CIN_OK);
    /* not registered yet */
    expect(cert_login(pem, "{}"), 401, "unauthorized");
    q = json_quote(pem);
    snprintf(body, sizeof(body), "{\"sha256\":\"%s\"}", cc.sha256);
    expect(call(F, U_ADMIN, "POST", "/api/v1/client-certificates", body, NULL), 201, NULL);
    ck_assert_int_eq(count_events("user.cert_registered"), 1);
    /* another user, of this account or another, cannot register it too */
    expect(call(F, U_STANDARD, "POST", "/api/v1/client-certificates", body, NULL), 409, "conflict");
    expect(call(F, U_OTHER_ADMIN, "POST", "/api/v1/client-certificates", body, NULL), 409,
           "conflict");
    ck_assert_int_eq(count_events("user.cert_registered"), 1);
    r = cert_login(pem, "{}");
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "user"), "name")),
                     "ann");
    hresp_free(&r);
    ck_assert_int_eq(count_events("session.login_certificate"), 1);
    /* a name that is not the certificate's */
    expect(cert_login(pem, "{\"username\":\"sam\"}"), 401, "unauthorized");
    /* never ambient: the certificate authenticates nothing but this login */
    {
        cin_request req;
        hresp a;
        memset(&req, 0, sizeof(req));
        req.method = "GET";
        req.path = "/api/v1/orders";
        req.peer = "192.0.2.90";
        req.tls = 1;
        req.client_cert_pem = pem;
        a = call_request(F, &req);
        ck_assert_int_eq(a.status, 401);
        hresp_free(&a);
    }
    /* by issuer and serial too */
    expect(call(F, U_ADMIN, "DELETE", "/api/v1/client-certificates/1", NULL, NULL), 204, NULL);
    expect(cert_login(pem, "{}"), 401, "unauthorized");
    snprintf(body, sizeof(body), "{\"issuer\":\"%s\",\"serial\":\"%s\"}", cc.issuer, cc.serial);
    expect(call(F, U_ADMIN, "POST", "/api/v1/client-certificates", body, NULL), 201, NULL);
    expect(cert_login(pem, "{}"), 200, NULL);
    expect(call(F, U_ADMIN, "POST", "/api/v1/client-certificates", "{\"sha256\":\"zz\"}", NULL),
           400, "bad_request");
    cin_client_cert_clear(&cc);
    free(q);
    free(pem);
    tmpdir_remove(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("account_security");
    TCase *tc = tcase_create("account_security");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, rfc6238_vectors_and_encodings);
    tcase_add_test(tc, allowlists);
    tcase_add_test(tc, totp_login_wrong_replayed_drift);
    tcase_add_test(tc, enforced_second_factor_walks_through_enrolment);
    tcase_add_test(tc, totp_turn_off_needs_proof);
    tcase_add_test(tc, allowlist_for_logins_and_api);
    tcase_add_test(tc, client_certificate_login);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
