/*
 * test_acmesrv.c - the ACME server (issue 13): JWS parsing and verification,
 * thumbprints, EAB, nonces, and the protocol through cin_http_handle() as a
 * glue calls it, driven by the ACME client's own signing code (jws.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "../../common/src/acme_int.h"
#include "../../common/src/acmesrv_int.h"
#include "cin_ca.h"
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

#define BASE "https://localhost/acme/" /* the harness mounts at the root */

/* store_query's answer in a static buffer (the tests compare it at once) */
static const char *q(const char *sql)
{
    static char buf[512];
    char *out = store_query(F, sql);

    snprintf(buf, sizeof(buf), "%s", out ? out : "");
    free(out);
    return buf;
}

/* ---- JWS ------------------------------------------------------------------ */

START_TEST(jws_verifies_what_the_client_signs)
{
    EVP_PKEY *key = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256"), *pub;
    char *body = jws_es256(key, NULL, "n0nce", BASE "new-account", "{\"a\":1}");
    char *thumb, *mine;
    acmesrv_jws j;
    const char *detail = NULL;
    json_t *jwk;

    ck_assert_ptr_nonnull(body);
    ck_assert_int_eq(acmesrv_jws_parse_text(body, strlen(body), &j, &detail), CIN_OK);
    ck_assert_str_eq(j.alg, "ES256");
    ck_assert_str_eq(j.nonce, "n0nce");
    ck_assert_str_eq(j.url, BASE "new-account");
    ck_assert_str_eq(j.payload, "{\"a\":1}");
    ck_assert_ptr_nonnull(j.jwk);
    ck_assert_ptr_null(j.kid);
    pub = acmesrv_jwk_key(j.jwk);
    ck_assert_ptr_nonnull(pub);
    ck_assert_int_eq(acmesrv_jws_verify(&j, pub), 1);
    EVP_PKEY_free(pub);
    /* another key does not verify it, nor does a tampered signature */
    pub = acmesrv_jwk_key(jwk = jws_jwk(other));
    ck_assert_int_eq(acmesrv_jws_verify(&j, pub), 0);
    EVP_PKEY_free(pub);
    json_decref(jwk);
    j.sig[5] ^= 1;
    pub = acmesrv_jwk_key(j.jwk);
    ck_assert_int_eq(acmesrv_jws_verify(&j, pub), 0);
    EVP_PKEY_free(pub);
    /* RFC 7638: the same thumbprint as the client computes */
    thumb = jws_thumbprint(key);
    mine = acmesrv_jwk_thumbprint(j.jwk);
    ck_assert_str_eq(thumb, mine);
    free(thumb);
    free(mine);
    acmesrv_jws_clear(&j);
    free(body);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}
END_TEST

START_TEST(jws_rejects_malformed_input)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"protected\":\"e30\",\"payload\":\"\"}",
        "{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"AA\"}", /* no alg */
        "{\"protected\":\"eyJhbGciOiJFUzI1NiJ9\",\"payload\":\"+/\",\"signature\":\"AA\"}",
        "{\"protected\":\"eyJhbGciOiJFUzI1NiJ9\",\"payload\":\"\",\"signature\":\"A=A\"}",
        "{\"protected\":\"eyJhbGciOiJFUzI1NiJ9\",\"payload\":\"\",\"signature\":\"AA\","
        "\"header\":{}}",
        "{\"protected\":\"!!!\",\"payload\":\"\",\"signature\":\"AA\"}",
    };
    acmesrv_jws j;
    const char *detail;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        detail = NULL;
        ck_assert_msg(acmesrv_jws_parse_text(bad[i], strlen(bad[i]), &j, &detail) == CIN_EINVAL,
                      "accepted %s", bad[i]);
        ck_assert_ptr_nonnull(detail);
    }
    ck_assert_int_eq(acmesrv_alg_ok("HS256"), 0);
    ck_assert_int_eq(acmesrv_alg_ok("none"), 0);
    ck_assert_int_eq(acmesrv_alg_ok("ES384"), 1);
}
END_TEST

START_TEST(jwk_keys_of_every_kind)
{
    const char *types[] = {"RSA", "EC", "EC", "ED25519"};
    EVP_PKEY *keys[4], *back;
    json_t *jwk, *priv;
    char *t;
    size_t i;

    keys[0] = EVP_RSA_gen(2048);
    keys[1] = EVP_EC_gen("P-256");
    keys[2] = EVP_EC_gen("P-384");
    keys[3] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    for (i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(keys[i]);
        jwk = acmesrv_key_jwk(keys[i]);
        ck_assert_msg(jwk != NULL, "no JWK for %s", types[i]);
        back = acmesrv_jwk_key(jwk);
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(EVP_PKEY_eq(back, keys[i]), 1);
        t = acmesrv_jwk_thumbprint(jwk);
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(strlen(t), 43);
        free(t);
        /* a JWK carrying a private part is refused */
        priv = json_deep_copy(jwk);
        json_object_set_new(priv, "d", json_string("AAAA"));
        ck_assert_ptr_null(acmesrv_jwk_key(priv));
        json_decref(priv);
        EVP_PKEY_free(back);
        json_decref(jwk);
        EVP_PKEY_free(keys[i]);
    }
    /* one key, one JWK: a leading zero octet in n, or stray low bits in the
     * base64url, would give the same key another thumbprint: refused */
    keys[0] = EVP_RSA_gen(2048);
    jwk = acmesrv_key_jwk(keys[0]);
    {
        size_t len = 0;
        unsigned char *n = cin_b64url_decode(json_string_value(json_object_get(jwk, "n")), &len);
        unsigned char *padded = calloc(1, len + 1);
        char *enc, *e;
        memcpy(padded + 1, n, len);
        enc = cin_b64url_encode(padded, len + 1);
        json_object_set_new(jwk, "n", json_string(enc));
        ck_assert_ptr_null(acmesrv_jwk_key(jwk));
        json_object_set_new(jwk, "n", json_string(e = cin_b64url_encode(n, len)));
        free(e);
        back = acmesrv_jwk_key(jwk);
        ck_assert_ptr_nonnull(back);
        EVP_PKEY_free(back);
        free(enc);
        free(padded);
        free(n);
    }
    json_decref(jwk);
    EVP_PKEY_free(keys[0]);
    keys[1] = EVP_EC_gen("P-256");
    jwk = acmesrv_key_jwk(keys[1]);
    {
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        char *x = strdup(json_string_value(json_object_get(jwk, "x")));
        size_t last = strlen(x) - 1;
        x[last] = tbl[(strchr(tbl, x[last]) - tbl) ^ 1]; /* a stray low bit: same bytes */
        json_object_set_new(jwk, "x", json_string(x));
        ck_assert_ptr_null(acmesrv_jwk_key(jwk));
        free(x);
    }
    json_decref(jwk);
    EVP_PKEY_free(keys[1]);
    /* weak RSA and unknown curves are refused */
    keys[0] = EVP_RSA_gen(1024);
    jwk = acmesrv_key_jwk(keys[0]);
    ck_assert_ptr_null(acmesrv_jwk_key(jwk));
    json_decref(jwk);
    EVP_PKEY_free(keys[0]);
    jwk = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-521", "x", "AA", "y", "AA");
    ck_assert_ptr_null(acmesrv_jwk_key(jwk));
    ck_assert_ptr_null(acmesrv_jwk_thumbprint(jwk));
    json_decref(jwk);
}
END_TEST

START_TEST(eab_mac)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    unsigned char hmac[32] = {1, 2, 3}, wrong[32] = {3, 2, 1};
    json_t *eab = jws_eab("acme-kid", hmac, sizeof(hmac), BASE "new-account", key);
    acmesrv_jws j;
    const char *detail;

    ck_assert_int_eq(acmesrv_jws_parse(eab, &j, &detail), CIN_OK);
    ck_assert_str_eq(j.kid, "acme-kid");
    ck_assert_int_eq(acmesrv_eab_mac_ok(&j, hmac, sizeof(hmac)), 1);
    ck_assert_int_eq(acmesrv_eab_mac_ok(&j, wrong, sizeof(wrong)), 0);
    acmesrv_jws_clear(&j);
    json_decref(eab);
    EVP_PKEY_free(key);
}
END_TEST

/* ---- store ---------------------------------------------------------------- */

START_TEST(nonce_used_once)
{
    char *n = NULL;

    ck_assert_int_eq(acmesrv_nonce_new(F->st, &n), CIN_OK);
    ck_assert_int_eq(acmesrv_nonce_take(F->st, n), CIN_OK);
    ck_assert_int_eq(acmesrv_nonce_take(F->st, n), CIN_ENOTFOUND);
    ck_assert_int_eq(acmesrv_nonce_take(F->st, "never-given"), CIN_ENOTFOUND);
    free(n);
}
END_TEST

/* Handing out nonces writes nothing (an unauthenticated flood costs the store
 * nothing); forged, altered or respelled nonces are refused (review finding). */
START_TEST(nonces_are_stateless_until_spent)
{
    static const char *const host[] = {"Host: localhost", NULL};
    unsigned char raw[32];
    char *n = NULL, *forged, *respelled, *p;
    const char *b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int i;

    for (i = 0; i < 20; i++) {
        hresp r = call(F, -1, i % 2 ? "HEAD" : "GET", i % 2 ? "/acme/new-nonce" : "/acme/directory",
                       NULL, host);
        ck_assert_int_lt(r.status, 300);
        ck_assert_ptr_nonnull(hresp_header(&r, "Replay-Nonce"));
        hresp_free(&r);
    }
    ck_assert_int_eq(count_rows(F, "acmesrv_nonces"), 0);
    /* random bytes of the right length: no MAC of ours */
    memset(raw, 0x5a, sizeof(raw));
    forged = cin_b64url_encode(raw, sizeof(raw));
    ck_assert_int_eq(acmesrv_nonce_take(F->st, forged), CIN_ENOTFOUND);
    /* one character changed */
    ck_assert_int_eq(acmesrv_nonce_new(F->st, &n), CIN_OK);
    ck_assert_uint_eq(strlen(n), 43);
    respelled = strdup(n);
    respelled[5] = respelled[5] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(acmesrv_nonce_take(F->st, respelled), CIN_ENOTFOUND);
    /* the same bytes spelled otherwise (the last character's 2 spare bits) */
    p = strchr(b64, n[42]);
    ck_assert_ptr_nonnull(p);
    respelled[5] = n[5];
    respelled[42] = b64[((p - b64) & ~3) | (((p - b64) & 3) ^ 1)];
    ck_assert_int_eq(acmesrv_nonce_take(F->st, n), CIN_OK);
    ck_assert_int_eq(count_rows(F, "acmesrv_nonces"), 1);
    ck_assert_int_eq(acmesrv_nonce_take(F->st, respelled), CIN_ENOTFOUND);
    ck_assert_int_eq(acmesrv_nonce_take(F->st, n), CIN_ENOTFOUND);
    free(n);
    free(forged);
    free(respelled);
}
END_TEST

/* ---- the protocol through cin_http_handle ------------------------------------ */

static const char *const JOSE[] = {"Host: localhost", "Content-Type: application/jose+json", NULL};

static char *fresh_nonce(void)
{
    static const char *const host[] = {"Host: localhost", NULL};
    hresp r = call(F, -1, "HEAD", "/acme/new-nonce", NULL, host);
    char *n;

    ck_assert_int_eq(r.status, 200);
    n = strdup(hresp_header(&r, "Replay-Nonce"));
    hresp_free(&r);
    return n;
}

/* POST a JWS signed by key (kid: the account URL, or NULL for jwk). */
static hresp srv_post(EVP_PKEY *key, const char *kid, const char *res, const char *payload)
{
    char *nonce = fresh_nonce(), *url = cin_asprintf(BASE "%s", res), *path;
    char *body = jws_es256(key, kid, nonce, url, payload);
    hresp r;

    path = cin_asprintf("/acme/%s", res);
    r = call(F, -1, "POST", path, body, JOSE);
    free(nonce);
    free(url);
    free(body);
    free(path);
    return r;
}

static const char *acme_type(const hresp *r)
{
    const char *t = jstr(r, "type");

    ck_assert_str_eq(r->ctype, "application/problem+json");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(strncmp(t, "urn:ietf:params:acme:error:", 27), 0);
    return t + 27;
}

/* A credential for user u (as ann), and an account bound with it; *kid set. */
/* An ACME account bound with a new credential made of body (by ann). */
static EVP_PKEY *account_with(const char *body, char **kid)
{
    hresp r;
    unsigned char *hmac;
    size_t hlen;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    json_t *eab;
    char *payload, *eabs;

    r = call(F, U_ADMIN, "POST", "/api/v1/acme/credentials", body,
             (const char *const[]){"Host: localhost", NULL});
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(jstr(&r, "directory"), BASE "directory");
    hmac = cin_b64url_decode(jstr(&r, "hmac_key"), &hlen);
    eab = jws_eab(jstr(&r, "key_id"), hmac, hlen, BASE "new-account", key);
    eabs = json_dumps(eab, JSON_COMPACT);
    payload = cin_asprintf("{\"termsOfServiceAgreed\":true,\"externalAccountBinding\":%s}", eabs);
    hresp_free(&r);
    r = srv_post(key, NULL, "new-account", payload);
    ck_assert_msg(r.status == 201, "newAccount: %d %s", r.status, r.body);
    *kid = strdup(hresp_header(&r, "Location"));
    hresp_free(&r);
    free(hmac);
    free(payload);
    free(eabs);
    json_decref(eab);
    return key;
}

static EVP_PKEY *account_for(int u_name, int auto_pay, char **kid)
{
    char body[256];

    snprintf(body, sizeof(body), "{\"name\":\"t\",\"user\":\"%s\",\"auto_pay\":%s}",
             F->name[u_name], auto_pay ? "true" : "false");
    return account_with(body, kid);
}

static char *csr_b64(const char *name)
{
    char *key = NULL, *pem = NULL, *names[1] = {(char *)name}, *out;
    BIO *b;
    X509_REQ *req;
    unsigned char *der = NULL;
    int len;

    ck_assert_int_eq(cin_key_generate("ec-p256", &key), CIN_OK);
    ck_assert_int_eq(cin_csr_build(key, names, 1, &pem), CIN_OK);
    b = BIO_new_mem_buf(pem, -1);
    req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    len = i2d_X509_REQ(req, &der);
    out = cin_b64url_encode(der, (size_t)len);
    OPENSSL_free(der);
    X509_REQ_free(req);
    BIO_free(b);
    free(pem);
    cin_free_secret(key, strlen(key));
    return out;
}

/* the resource part of an absolute URL of ours */
static const char *res_of(const char *url)
{
    ck_assert_int_eq(strncmp(url, BASE, strlen(BASE)), 0);
    return url + strlen(BASE);
}

START_TEST(order_auto_pay_issues)
{
    char *kid = NULL, *csr, *fin, *loc;
    EVP_PKEY *key = account_for(U_ADMIN, 1, &kid);
    hresp r;
    long long credits = atoll(q("SELECT credits FROM accounts WHERE id = 1"));

    r = srv_post(key, kid, "new-order",
                 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.example.com\"}]}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(jstr(&r, "status"), "ready");
    fin = strdup(res_of(jstr(&r, "finalize")));
    loc = strdup(res_of(hresp_header(&r, "Location")));
    hresp_free(&r);
    csr = csr_b64("a.example.com");
    {
        char *p = cin_asprintf("{\"csr\":\"%s\"}", csr);
        r = srv_post(key, kid, fin, p);
        free(p);
    }
    ck_assert_msg(r.status == 200, "%s", r.body);
    ck_assert_str_eq(jstr(&r, "status"), "processing");
    ck_assert_ptr_nonnull(hresp_header(&r, "Retry-After"));
    hresp_free(&r);
    /* paid at once (an admin's auto_pay credential), issued by the agent */
    ck_assert_int_eq(atoll(q("SELECT credits FROM accounts WHERE id = 1")), credits - 10);
    agent_pass(F);
    r = srv_post(key, kid, loc, NULL);
    ck_assert_str_eq(jstr(&r, "status"), "valid");
    ck_assert_ptr_nonnull(jstr(&r, "certificate"));
    {
        char *cert = strdup(res_of(jstr(&r, "certificate")));
        hresp_free(&r);
        r = srv_post(key, kid, cert, NULL);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.ctype, "application/pem-certificate-chain");
        ck_assert_ptr_nonnull(strstr(r.body, "BEGIN CERTIFICATE"));
        free(cert);
    }
    hresp_free(&r);
    /* the audit trail says it came over ACME */
    ck_assert_ptr_nonnull(strstr(q("SELECT detail FROM order_events WHERE "
                                   "action = 'order.create'"),
                                 "over ACME"));
    free(csr);
    free(fin);
    free(loc);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(basic_user_waits_and_rejection_carries_reason)
{
    char *kid = NULL, *csr, *p, *fin, *loc, path[64];
    EVP_PKEY *key = account_for(U_BASIC, 0, &kid);
    long long oid;
    hresp r;
    json_t *err;

    r = srv_post(key, kid, "new-order",
                 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"b.example.com\"}]}");
    ck_assert_int_eq(r.status, 201);
    fin = strdup(res_of(jstr(&r, "finalize")));
    loc = strdup(res_of(hresp_header(&r, "Location")));
    hresp_free(&r);
    csr = csr_b64("b.example.com");
    p = cin_asprintf("{\"csr\":\"%s\"}", csr);
    r = srv_post(key, kid, fin, p);
    ck_assert_str_eq(jstr(&r, "status"), "processing");
    hresp_free(&r);
    oid = atoll(q("SELECT id FROM orders ORDER BY id DESC LIMIT 1"));
    ck_assert_str_eq(q("SELECT status FROM orders ORDER BY id DESC LIMIT 1"), "pending_approval\n");
    /* a finalize again: orderNotReady, nothing new */
    r = srv_post(key, kid, fin, p);
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(acme_type(&r), "orderNotReady");
    hresp_free(&r);
    /* the client gives up and comes back: the same request, ready again */
    r = srv_post(key, kid, "new-order",
                 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"b.example.com\"}]}");
    ck_assert_str_eq(jstr(&r, "status"), "ready");
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "orders"), 1);
    snprintf(path, sizeof(path), "/api/v1/orders/%lld/reject", oid);
    r = call(F, U_ADMIN, "POST", path, "{\"reason\":\"not this host\"}", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    r = srv_post(key, kid, loc, NULL);
    ck_assert_str_eq(jstr(&r, "status"), "invalid");
    err = json_object_get(r.json, "error");
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(err, "detail")), "not this host"));
    hresp_free(&r);
    free(p);
    free(csr);
    free(fin);
    free(loc);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(bad_input_writes_nothing)
{
    char *kid = NULL, *nonce, *body, *url;
    EVP_PKEY *key = account_for(U_ADMIN, 0, &kid);
    long long orders, acme_orders;
    hresp r;
    cin_request req;
    cin_response resp;

    orders = count_rows(F, "orders");
    acme_orders = count_rows(F, "acmesrv_orders");
    /* a replayed nonce */
    nonce = fresh_nonce();
    url = strdup(BASE "new-order");
    body = jws_es256(key, kid, nonce, url,
                     "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"c.example.com\"}]}");
    r = call(F, -1, "POST", "/acme/new-order", body, JOSE);
    ck_assert_int_eq(r.status, 201);
    hresp_free(&r);
    acme_orders++;
    r = call(F, -1, "POST", "/acme/new-order", body, JOSE);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(acme_type(&r), "badNonce");
    hresp_free(&r);
    free(body);
    free(nonce);
    /* the url header of another resource */
    nonce = fresh_nonce();
    body = jws_es256(key, kid, nonce, BASE "new-account", "{}");
    r = call(F, -1, "POST", "/acme/new-order", body, JOSE);
    ck_assert_str_eq(acme_type(&r), "unauthorized");
    hresp_free(&r);
    free(body);
    free(nonce);
    /* an unknown kid */
    nonce = fresh_nonce();
    body = jws_es256(key, BASE "acct/999", nonce, url, "{}");
    r = call(F, -1, "POST", "/acme/new-order", body, JOSE);
    ck_assert_str_eq(acme_type(&r), "accountDoesNotExist");
    hresp_free(&r);
    free(body);
    free(nonce);
    /* names of another account: rejectedIdentifier with subproblems */
    r = srv_post(key, kid, "new-order",
                 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"other.org\"}]}");
    ck_assert_str_eq(acme_type(&r), "rejectedIdentifier");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "subproblems")), 1);
    hresp_free(&r);
    /* an unsupported identifier type */
    r = srv_post(key, kid, "new-order",
                 "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"192.0.2.1\"}]}");
    ck_assert_str_eq(acme_type(&r), "unsupportedIdentifier");
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "orders"), orders);
    ck_assert_int_eq(count_rows(F, "acmesrv_orders"), acme_orders);
    /* plain HTTP: 403 */
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = "/acme/directory";
    cin_http_handle(F->core, &req, &resp);
    ck_assert_int_eq(resp.status, 403);
    ck_assert_str_eq(resp.content_type, "application/problem+json");
    cin_response_clear(&resp);
    free(url);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(credential_rules)
{
    hresp r = call(F, U_BASIC, "POST", "/api/v1/acme/credentials",
                   "{\"name\":\"x\",\"auto_pay\":true}", NULL);

    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
    r = call(F, U_BASIC, "POST", "/api/v1/acme/credentials", "{\"name\":\"x\",\"user\":\"ann\"}",
             NULL);
    ck_assert_int_eq(r.status, 403);
    hresp_free(&r);
    r = call(F, U_BASIC, "POST", "/api/v1/acme/credentials", "{\"name\":\"\"}", NULL);
    ck_assert_int_eq(r.status, 400);
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "acmesrv_credentials"), 0);
    r = call(F, U_BASIC, "POST", "/api/v1/acme/credentials", "{\"name\":\"mine\"}", NULL);
    ck_assert_int_eq(r.status, 201);
    ck_assert_int_eq(r.raw.secret, 1);
    hresp_free(&r);
    /* the key is sealed: the stored blob is not the key */
    r = call(F, U_BASIC, "GET", "/api/v1/acme/credentials", NULL, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "credentials")), 1);
    ck_assert_ptr_null(strstr(r.body, "hmac"));
    hresp_free(&r);
    r = call(F, U_OTHER_ADMIN, "DELETE", "/api/v1/acme/credentials/1", NULL, NULL);
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
    r = call(F, U_ADMIN, "DELETE", "/api/v1/acme/credentials/1", NULL, NULL);
    ck_assert_int_eq(r.status, 204);
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "acmesrv_credentials"), 0);
}
END_TEST

static char *finalize_new(EVP_PKEY *key, const char *kid, const char *name, char **loc)
{
    char *ident = cin_asprintf("{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s\"}]}", name);
    hresp r = srv_post(key, kid, "new-order", ident);
    char *fin, *csr, *p, *status;

    ck_assert_int_eq(r.status, 201);
    ck_assert_str_eq(jstr(&r, "status"), "ready");
    fin = strdup(res_of(jstr(&r, "finalize")));
    *loc = strdup(res_of(hresp_header(&r, "Location")));
    hresp_free(&r);
    csr = csr_b64(name);
    p = cin_asprintf("{\"csr\":\"%s\"}", csr);
    r = srv_post(key, kid, fin, p);
    ck_assert_msg(r.status == 200, "%s", r.body);
    status = strdup(jstr(&r, "status"));
    hresp_free(&r);
    free(p);
    free(csr);
    free(fin);
    free(ident);
    return status;
}

static char *order_state(EVP_PKEY *key, const char *kid, const char *loc)
{
    hresp r = srv_post(key, kid, loc, NULL);
    char *s = strdup(jstr(&r, "status"));

    hresp_free(&r);
    return s;
}

/* A client that comes back while its paid request is being issued, with a new
 * key: bound to the same request, then a free reissue for its key. */
START_TEST(rerun_during_issuance_gets_its_key_without_second_charge)
{
    char *kid = NULL, *loc1 = NULL, *loc2 = NULL, *st;
    EVP_PKEY *key = account_for(U_ADMIN, 1, &kid);

    st = finalize_new(key, kid, "r.example.com", &loc1);
    ck_assert_str_eq(st, "processing");
    free(st);
    st = finalize_new(key, kid, "r.example.com", &loc2); /* no agent pass in between */
    ck_assert_str_eq(st, "processing");
    free(st);
    ck_assert_int_eq(count_rows(F, "orders"), 1);
    agent_pass(F);
    /* the first finalize's key: valid; the second's: a reissue is under way */
    st = order_state(key, kid, loc1);
    ck_assert_str_eq(st, "valid");
    free(st);
    st = order_state(key, kid, loc2);
    ck_assert_str_eq(st, "processing");
    free(st);
    ck_assert_str_eq(q("SELECT kind FROM orders ORDER BY id DESC LIMIT 1"), "reissue\n");
    agent_pass(F);
    st = order_state(key, kid, loc2);
    ck_assert_str_eq(st, "valid");
    free(st);
    ck_assert_str_eq(q("SELECT count(*) FROM ledger WHERE delta < 0"), "1\n");
    /* after issuance, the same names with a new key again: another free reissue */
    free(loc1);
    st = finalize_new(key, kid, "r.example.com", &loc1);
    ck_assert_str_eq(st, "processing");
    free(st);
    ck_assert_int_eq(count_rows(F, "orders"), 3);
    ck_assert_str_eq(q("SELECT count(*) FROM ledger WHERE delta < 0"), "1\n");
    free(loc1);
    free(loc2);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

/* An administrator's credential without auto_pay: Pay now in the page. */
START_TEST(admin_without_auto_pay_waits_for_payment)
{
    char *kid = NULL, *loc = NULL, *st, path[64];
    EVP_PKEY *key = account_for(U_ADMIN, 0, &kid);
    hresp r;

    st = finalize_new(key, kid, "p.example.com", &loc);
    ck_assert_str_eq(st, "processing");
    free(st);
    ck_assert_str_eq(q("SELECT status FROM orders"), "awaiting_payment\n");
    agent_pass(F);
    st = order_state(key, kid, loc);
    ck_assert_str_eq(st, "processing");
    free(st);
    snprintf(path, sizeof(path), "/api/v1/orders/%lld/pay", atoll(q("SELECT id FROM orders")));
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_msg(r.status == 200, "%s: %s", path, r.body);
    hresp_free(&r);
    agent_pass(F);
    st = order_state(key, kid, loc);
    ck_assert_str_eq(st, "valid");
    free(st);
    free(loc);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

/* A sub-account that bills its parent pays over ACME only under the parent's
 * policy (an auto_pay credential alone is not enough). */
START_TEST(sub_account_auto_pay_needs_the_parents_policy)
{
    cin_problem p = {0};
    int64_t parent = 0;
    char *kid = NULL, *loc = NULL, *st, sqlbuf[256];
    EVP_PKEY *key = account_for(U_ADMIN, 1, &kid);
    const cin_actor provider = {NULL, "cli", NULL};

    ck_assert_int_eq(cin_account_create(F->st, &provider, "reseller", 100, &parent, &p), CIN_OK);
    snprintf(sqlbuf, sizeof(sqlbuf),
             "UPDATE accounts SET parent_id = %lld, path = '/%lld/1/', billing = 'parent', "
             "requires_parent_approval = 0, auto_policy = 0 WHERE id = 1",
             (long long)parent, (long long)parent);
    q(sqlbuf);
    st = finalize_new(key, kid, "s.example.com", &loc);
    ck_assert_str_eq(st, "processing");
    free(st);
    ck_assert_str_eq(q("SELECT status FROM orders"), "awaiting_payment\n");
    ck_assert_str_eq(q("SELECT credits FROM accounts WHERE name = 'reseller'"), "100\n");
    /* the parent allows automatic payment: the next request of the client pays */
    q("UPDATE accounts SET auto_policy = 1 WHERE id = 1");
    free(order_state(key, kid, loc));
    ck_assert_str_eq(q("SELECT status FROM orders"), "processing\n");
    ck_assert_str_eq(q("SELECT credits FROM accounts WHERE name = 'reseller'"), "90\n");
    free(loc);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

static hresp new_order(EVP_PKEY *key, const char *kid, const char *name)
{
    char *ident = cin_asprintf("{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s\"}]}", name);
    hresp r = srv_post(key, kid, "new-order", ident);

    free(ident);
    return r;
}

static void cred_refused(const char *body, const char *field)
{
    hresp r = call(F, U_ADMIN, "POST", "/api/v1/acme/credentials", body, NULL);

    ck_assert_msg(r.status == 400, "%s: %d %s", body, r.status, r.body);
    ck_assert_str_eq(jstr(&r, "field"), field);
    hresp_free(&r);
}

/* Required custom fields and ACME: a client cannot fill them, so an ACME
 * order carries its credential's preset.  Without one the client is told
 * userActionRequired at newOrder (no order made); a preset is validated when
 * the credential is made; a field required later stops the next order again. */
START_TEST(acme_orders_carry_the_credentials_fields)
{
    char *kid = NULL, *kid2 = NULL, *loc = NULL, *st;
    EVP_PKEY *bare, *key;
    json_t *fields;
    hresp r;

    r = call(F, U_ADMIN, "POST", "/api/v1/fields",
             "{\"name\":\"cost_centre\",\"type\":\"text\",\"required\":true}", NULL);
    ck_assert_int_eq(r.status, 201);
    hresp_free(&r);
    r = call(F, U_ADMIN, "POST", "/api/v1/fields",
             "{\"name\":\"ticket\",\"type\":\"number\",\"products\":[\"ev-ssl\"]}", NULL);
    ck_assert_int_eq(r.status, 201);
    hresp_free(&r);
    /* a credential without the fields: its client learns what to do, nothing is made */
    bare = account_for(U_ADMIN, 0, &kid);
    r = new_order(bare, kid, "f.example.com");
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(acme_type(&r), "userActionRequired");
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "cost_centre is required"));
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "orders"), 0);
    ck_assert_int_eq(count_rows(F, "acmesrv_orders"), 0);
    /* presets are checked when the credential is made */
    cred_refused("{\"name\":\"x\",\"fields\":{\"nope\":\"1\"}}", "fields.nope");
    cred_refused("{\"name\":\"x\",\"fields\":{\"cost_centre\":5}}", "fields.cost_centre");
    cred_refused("{\"name\":\"x\",\"product\":\"dv-ssl\",\"fields\":{}}", "fields.cost_centre");
    cred_refused("{\"name\":\"x\",\"product\":\"dv-ssl\"}", "fields.cost_centre");
    cred_refused("{\"name\":\"x\",\"fields\":\"CC-9\"}", "fields");
    ck_assert_int_eq(count_rows(F, "acmesrv_credentials"), 1);
    /* with them: the order carries the values its product takes */
    key = account_with("{\"name\":\"ops\",\"fields\":{\"cost_centre\":\"CC-9\",\"ticket\":42}}",
                       &kid2);
    r = call(F, U_ADMIN, "GET", "/api/v1/acme/credentials", NULL, NULL);
    ck_assert_ptr_nonnull(strstr(r.body, "\"cost_centre\":\"CC-9\""));
    hresp_free(&r);
    st = finalize_new(key, kid2, "f.example.com", &loc);
    ck_assert_str_eq(st, "processing");
    free(st);
    r = call(F, U_ADMIN, "GET", "/api/v1/orders", NULL, NULL);
    fields = json_object_get(json_array_get(json_object_get(r.json, "orders"), 0), "fields");
    ck_assert_int_eq(json_object_size(fields), 1); /* ticket is an ev-ssl field */
    ck_assert_str_eq(json_string_value(json_object_get(fields, "cost_centre")), "CC-9");
    hresp_free(&r);
    /* a field required later: the next order stops again, naming it */
    r = call(
        F, U_ADMIN, "POST", "/api/v1/fields",
        "{\"name\":\"project\",\"type\":\"choice\",\"choices\":[\"a\",\"b\"],\"required\":true}",
        NULL);
    ck_assert_int_eq(r.status, 201);
    hresp_free(&r);
    r = new_order(key, kid2, "g.example.com");
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(acme_type(&r), "userActionRequired");
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "project is required"));
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "ops"));
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "orders"), 1);
    free(loc);
    free(kid);
    free(kid2);
    EVP_PKEY_free(bare);
    EVP_PKEY_free(key);
}
END_TEST

/* At most 5 ACME reissues of a certificate. */
START_TEST(reissues_are_limited)
{
    char *kid = NULL, *loc = NULL, *st;
    EVP_PKEY *key = account_for(U_ADMIN, 1, &kid);
    int i;

    for (i = 0; i <= ACMESRV_REISSUE_MAX; i++) {
        st = finalize_new(key, kid, "l.example.com", &loc);
        ck_assert_str_eq(st, "processing");
        free(st);
        agent_pass(F);
        st = order_state(key, kid, loc);
        ck_assert_str_eq(st, "valid");
        free(st);
        free(loc);
    }
    ck_assert_int_eq(count_rows(F, "orders"), 1 + ACMESRV_REISSUE_MAX);
    {
        char *ident = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"l.example.com\"}]}";
        hresp r = srv_post(key, kid, "new-order", ident);
        char *fin = strdup(res_of(jstr(&r, "finalize"))), *csr = csr_b64("l.example.com"), *p;
        hresp_free(&r);
        p = cin_asprintf("{\"csr\":\"%s\"}", csr);
        r = srv_post(key, kid, fin, p);
        ck_assert_int_eq(r.status, 403);
        ck_assert_str_eq(acme_type(&r), "unauthorized");
        ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "reissued"));
        hresp_free(&r);
        free(p);
        free(csr);
        free(fin);
    }
    ck_assert_int_eq(count_rows(F, "orders"), 1 + ACMESRV_REISSUE_MAX);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

/* Two finalizes of one order at once: the second is refused, nothing doubled. */
START_TEST(finalize_claims_the_order)
{
    char *kid = NULL, *fin, *csr, *p;
    EVP_PKEY *key = account_for(U_ADMIN, 1, &kid);
    hresp r = srv_post(key, kid, "new-order",
                       "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"f.example.com\"}]}");
    int64_t id;

    ck_assert_int_eq(r.status, 201);
    fin = strdup(res_of(jstr(&r, "finalize")));
    hresp_free(&r);
    id = atoll(strchr(fin, '/') + 1);
    csr = csr_b64("f.example.com");
    p = cin_asprintf("{\"csr\":\"%s\"}", csr);
    /* another finalize holds it */
    ck_assert_int_eq(acmesrv_order_claim(F->st, id, 1), CIN_OK);
    ck_assert_int_eq(acmesrv_order_claim(F->st, id, 1), CIN_ECONFLICT);
    r = srv_post(key, kid, fin, p);
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(acme_type(&r), "orderNotReady");
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "orders"), 0);
    /* a finalize the workflow refuses (the domain moved away meanwhile) leaves
     * the order ready */
    ck_assert_int_eq(acmesrv_order_claim(F->st, id, 0), CIN_OK);
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_end(F->st, cin_store_domain_remove(F->st, "example.com")), CIN_OK);
    r = srv_post(key, kid, fin, p);
    ck_assert_str_eq(acme_type(&r), "rejectedIdentifier");
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "orders"), 0);
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_end(F->st, cin_store_domain_add(F->st, 1, "example.com", NULL)),
                     CIN_OK);
    r = srv_post(key, kid, fin, p);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "orders"), 1);
    free(p);
    free(csr);
    free(fin);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(disabled_user_and_deleted_credential)
{
    char *kid = NULL;
    EVP_PKEY *key = account_for(U_BASIC, 0, &kid);
    const char *ident = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"d.example.com\"}]}";
    hresp r = srv_post(key, kid, "new-order", ident);

    ck_assert_int_eq(r.status, 201);
    hresp_free(&r);
    r = call(F, U_ADMIN, "PATCH", "/api/v1/users/bob", "{\"disabled\":true}", NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    r = srv_post(key, kid, "new-order", ident);
    ck_assert_int_eq(r.status, 401);
    ck_assert_str_eq(acme_type(&r), "unauthorized");
    hresp_free(&r);
    r = call(F, U_ADMIN, "PATCH", "/api/v1/users/bob", "{\"disabled\":false}", NULL);
    hresp_free(&r);
    r = srv_post(key, kid, "new-order", ident);
    ck_assert_int_eq(r.status, 201);
    hresp_free(&r);
    r = call(F, U_ADMIN, "DELETE", "/api/v1/acme/credentials/1", NULL, NULL);
    ck_assert_int_eq(r.status, 204);
    hresp_free(&r);
    r = srv_post(key, kid, "new-order", ident);
    ck_assert_int_eq(r.status, 401);
    ck_assert_str_eq(acme_type(&r), "unauthorized");
    hresp_free(&r);
    /* the next credentials may get the deleted one's id (SQLite reuses it), for
     * another user or the same one: the old account stays dead (a review finding) */
    for (int i = 0; i < 2; i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"name\":\"next\",\"user\":\"%s\"}",
                 F->name[i ? U_BASIC : U_STANDARD]);
        r = call(F, U_ADMIN, "POST", "/api/v1/acme/credentials", body,
                 (const char *const[]){"Host: localhost", NULL});
        ck_assert_int_eq(r.status, 201);
        hresp_free(&r);
        r = srv_post(key, kid, "new-order", ident);
        ck_assert_int_eq(r.status, 401);
        ck_assert_str_eq(acme_type(&r), "unauthorized");
        hresp_free(&r);
    }
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

/* A stale copy of an account never undoes a deactivation or a key rollover
 * that landed in between (compare and set; a review finding). */
START_TEST(account_update_is_compare_and_set)
{
    char *kid = NULL;
    EVP_PKEY *key = account_for(U_STANDARD, 0, &kid);
    acmesrv_acct stale, now;
    int64_t id = atoll(strrchr(kid, '/') + 1);
    hresp r;

    memset(&stale, 0, sizeof(stale));
    memset(&now, 0, sizeof(now));
    ck_assert_int_eq(acmesrv_acct_get(F->st, id, NULL, &stale), CIN_OK);
    r = srv_post(key, kid, res_of(kid), "{\"status\":\"deactivated\"}");
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    /* the attacker's write, read before the deactivation, lands after it */
    free(stale.contact);
    stale.contact = strdup("[\"mailto:evil@example.net\"]");
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(acmesrv_acct_update(F->st, &stale, stale.thumbprint), CIN_ECONFLICT);
    cin_store_rollback(F->st);
    ck_assert_int_eq(acmesrv_acct_get(F->st, id, NULL, &now), CIN_OK);
    ck_assert_str_eq(now.status, "deactivated");
    ck_assert_str_ne(now.contact, stale.contact);
    acmesrv_acct_clear(&stale);
    acmesrv_acct_clear(&now);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

/* The account's IP allowlist holds for ACME too (a review finding). */
START_TEST(ip_allowlist_applies)
{
    char *kid = NULL;
    EVP_PKEY *key = account_for(U_ADMIN, 1, &kid);
    const char *ident = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"ip.example.com\"}]}";
    hresp r;

    r = call(F, U_ADMIN, "PATCH", "/api/v1/accounts/acme", "{\"ip_allowlist\":[\"10.9.0.0/16\"]}",
             NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    /* the harness calls from 192.0.2.7: outside the list */
    r = srv_post(key, kid, "new-order", ident);
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(acme_type(&r), "unauthorized");
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "acmesrv_orders"), 0);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

/* ---- newAuthz, deactivation, orders' origin, ARI and distrust, refusals ---------- */

static hresp new_authz(EVP_PKEY *key, const char *kid, const char *type, const char *value)
{
    char *p = cin_asprintf("{\"identifier\":{\"type\":\"%s\",\"value\":\"%s\"}}", type, value);
    hresp r = srv_post(key, kid, "new-authz", p);

    free(p);
    return r;
}

static const char *authz_status(const hresp *r)
{
    return json_string_value(json_object_get(r->json, "status"));
}

START_TEST(new_authz_preauthorizes_owned_names)
{
    static const char *const host[] = {"Host: localhost", NULL};
    char *kid = NULL, *kid2 = NULL, *loc;
    EVP_PKEY *key = account_for(U_ADMIN, 0, &kid), *key2 = account_for(U_STANDARD, 0, &kid2);
    hresp r = call(F, -1, "GET", "/acme/directory", NULL, host);
    json_t *ident;

    ck_assert_str_eq(jstr(&r, "newAuthz"), BASE "new-authz");
    hresp_free(&r);
    /* a name the account owns: valid at once (RFC 8555 section 7.4.1) */
    r = new_authz(key, kid, "dns", "Pre.Example.com");
    ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
    ck_assert_str_eq(authz_status(&r), "valid");
    ident = json_object_get(r.json, "identifier");
    ck_assert_str_eq(json_string_value(json_object_get(ident, "value")), "pre.example.com");
    ck_assert_ptr_null(json_object_get(r.json, "wildcard"));
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "challenges")), 1);
    loc = strdup(res_of(hresp_header(&r, "Location")));
    ck_assert_int_eq(strncmp(loc, "authz/", 6), 0);
    hresp_free(&r);
    /* the same name again: the same authorization */
    r = new_authz(key, kid, "dns", "pre.example.com");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(res_of(hresp_header(&r, "Location")), loc);
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "acmesrv_authzs"), 1);
    /* not the account's, a wildcard, another type: refused, nothing written */
    r = new_authz(key, kid, "dns", "other.org");
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(acme_type(&r), "rejectedIdentifier");
    hresp_free(&r);
    r = new_authz(key, kid, "dns", "*.example.com");
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(acme_type(&r), "malformed");
    ck_assert_ptr_nonnull(strstr(jstr(&r, "detail"), "wildcard"));
    hresp_free(&r);
    r = new_authz(key, kid, "ip", "192.0.2.1");
    ck_assert_str_eq(acme_type(&r), "unsupportedIdentifier");
    hresp_free(&r);
    r = srv_post(key, kid, "new-authz", "{}");
    ck_assert_str_eq(acme_type(&r), "malformed");
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "acmesrv_authzs"), 1);
    /* POST-as-GET by its account; another ACME account's request: 404 */
    r = srv_post(key, kid, loc, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(authz_status(&r), "valid");
    hresp_free(&r);
    r = srv_post(key2, kid2, loc, "{\"status\":\"deactivated\"}");
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
    ck_assert_str_eq(q("SELECT status FROM acmesrv_authzs"), "valid\n");
    /* only "deactivated" */
    r = srv_post(key, kid, loc, "{\"status\":\"valid\"}");
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(acme_type(&r), "malformed");
    hresp_free(&r);
    /* deactivation (section 7.5.2), audited; a new newAuthz makes another */
    r = srv_post(key, kid, loc, "{\"status\":\"deactivated\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(authz_status(&r), "deactivated");
    hresp_free(&r);
    r = srv_post(key, kid, loc, NULL);
    ck_assert_str_eq(authz_status(&r), "deactivated");
    hresp_free(&r);
    ck_assert_str_eq(q("SELECT count(*) FROM order_events WHERE action = 'acme.authz.deactivate'"),
                     "1\n");
    r = new_authz(key, kid, "dns", "pre.example.com");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_ne(res_of(hresp_header(&r, "Location")), loc);
    hresp_free(&r);
    free(loc);
    free(kid);
    free(kid2);
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
}
END_TEST

static char *first_authz(EVP_PKEY *key, const char *kid, const char *loc)
{
    hresp r = srv_post(key, kid, loc, NULL);
    char *a = strdup(
        res_of(json_string_value(json_array_get(json_object_get(r.json, "authorizations"), 0))));

    hresp_free(&r);
    return a;
}

START_TEST(deactivated_authorization_invalidates_its_order)
{
    char *kid = NULL, *kid2 = NULL, *loc, *fin, *az, *st, *csr, *p;
    EVP_PKEY *key = account_for(U_ADMIN, 1, &kid), *key2 = account_for(U_ADMIN, 1, &kid2);
    hresp r;

    r = srv_post(key, kid, "new-order",
                 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"d.example.com\"},"
                 "{\"type\":\"dns\",\"value\":\"*.example.com\"}]}");
    ck_assert_int_eq(r.status, 201);
    fin = strdup(res_of(jstr(&r, "finalize")));
    loc = strdup(res_of(hresp_header(&r, "Location")));
    hresp_free(&r);
    az = first_authz(key, kid, loc); /* *.example.com sorts first */
    r = srv_post(key, kid, az, NULL);
    ck_assert_int_eq(json_is_true(json_object_get(r.json, "wildcard")), 1);
    hresp_free(&r);
    /* another ACME account cannot deactivate it */
    r = srv_post(key2, kid2, az, "{\"status\":\"deactivated\"}");
    ck_assert_int_eq(r.status, 404);
    hresp_free(&r);
    st = order_state(key, kid, loc);
    ck_assert_str_eq(st, "ready");
    free(st);
    /* its account can: the order can never be ready again, so it is invalid */
    r = srv_post(key, kid, az, "{\"status\":\"deactivated\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(authz_status(&r), "deactivated");
    hresp_free(&r);
    r = srv_post(key, kid, loc, NULL);
    ck_assert_str_eq(jstr(&r, "status"), "invalid");
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(json_object_get(r.json, "error"), "detail")),
               "deactivated"));
    hresp_free(&r);
    csr = csr_b64("d.example.com");
    p = cin_asprintf("{\"csr\":\"%s\"}", csr);
    r = srv_post(key, kid, fin, p);
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(acme_type(&r), "orderNotReady");
    hresp_free(&r);
    ck_assert_int_eq(count_rows(F, "orders"), 0);
    free(loc);
    free(az);
    /* an order that has its certificate stays valid; its authorization is deactivated */
    st = finalize_new(key, kid, "v.example.com", &loc);
    free(st);
    agent_pass(F);
    az = first_authz(key, kid, loc);
    r = srv_post(key, kid, az, "{\"status\":\"deactivated\"}");
    ck_assert_str_eq(authz_status(&r), "deactivated");
    hresp_free(&r);
    st = order_state(key, kid, loc);
    ck_assert_str_eq(st, "valid");
    free(st);
    free(loc);
    free(az);
    /* a finalized order waiting for issuance: invalid, not paid on later polls */
    free(kid);
    EVP_PKEY_free(key);
    key = account_for(U_BASIC, 1, &kid);
    st = finalize_new(key, kid, "w.example.com", &loc);
    ck_assert_str_eq(st, "processing");
    free(st);
    az = first_authz(key, kid, loc);
    r = srv_post(key, kid, az, "{\"status\":\"deactivated\"}");
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    st = order_state(key, kid, loc);
    ck_assert_str_eq(st, "invalid");
    free(st);
    free(loc);
    free(az);
    free(p);
    free(csr);
    free(fin);
    free(kid);
    free(kid2);
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
}
END_TEST

/* An order's name that was pre-authorized uses that authorization (RFC 8555
 * section 7.4.1); deactivating it makes the order invalid (7.5.2). */
START_TEST(orders_use_preauthorizations)
{
    char *kid = NULL, *pre, *loc, *st, *own;
    EVP_PKEY *key = account_for(U_ADMIN, 0, &kid);
    hresp r = new_authz(key, kid, "dns", "use.example.com");
    json_t *az;

    ck_assert_int_eq(r.status, 201);
    pre = strdup(hresp_header(&r, "Location"));
    hresp_free(&r);
    r = srv_post(key, kid, "new-order",
                 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"use.example.com\"},"
                 "{\"type\":\"dns\",\"value\":\"*.use.example.com\"}]}");
    ck_assert_msg(r.status == 201, "%s", r.body);
    loc = strdup(res_of(hresp_header(&r, "Location")));
    az = json_object_get(r.json, "authorizations");
    /* "*.use.example.com" sorts first: its own; the exact name: the pre-authorization */
    ck_assert_str_eq(json_string_value(json_array_get(az, 1)), pre);
    own = strdup(res_of(json_string_value(json_array_get(az, 0))));
    ck_assert_str_ne(own, res_of(pre));
    hresp_free(&r);
    /* the order's own URL for that name answers with the pre-authorization */
    {
        char *idx1 = strdup(own);
        idx1[strlen(idx1) - 1] = '1';
        r = srv_post(key, kid, idx1, NULL);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(hresp_header(&r, "Location"), pre);
        hresp_free(&r);
        free(idx1);
    }
    st = order_state(key, kid, loc);
    ck_assert_str_eq(st, "ready");
    free(st);
    r = srv_post(key, kid, res_of(pre), "{\"status\":\"deactivated\"}");
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    st = order_state(key, kid, loc);
    ck_assert_str_eq(st, "invalid");
    free(st);
    /* a new order for the name now has its own authorization again */
    r = srv_post(key, kid, "new-order",
                 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"use.example.com\"}]}");
    ck_assert_int_eq(r.status, 201);
    ck_assert_str_ne(
        json_string_value(json_array_get(json_object_get(r.json, "authorizations"), 0)), pre);
    ck_assert_str_eq(jstr(&r, "status"), "ready");
    hresp_free(&r);
    free(own);
    free(loc);
    free(pre);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(orders_from_acme_say_so)
{
    char *kid = NULL, *loc, *st, path[64];
    EVP_PKEY *key = account_for(U_ADMIN, 1, &kid);
    const char *rest = order_new(F, U_ADMIN, "dv-ssl", "[\"rest.example.com\"]");
    long long oid;
    hresp r;

    st = finalize_new(key, kid, "via.example.com", &loc);
    free(st);
    oid = atoll(q("SELECT id FROM orders WHERE via = 'acme'"));
    ck_assert_int_gt(oid, 0);
    snprintf(path, sizeof(path), "/api/v1/orders/%lld", oid);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(jstr(&r, "via"), "acme");
    ck_assert_str_eq(jstr(&r, "via_credential"), "t");
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/orders/%s", rest);
    r = call(F, U_ADMIN, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(json_is_null(json_object_get(r.json, "via")), 1);
    ck_assert_int_eq(json_is_null(json_object_get(r.json, "via_credential")), 1);
    hresp_free(&r);
    /* a reissue over ACME (a new key after issuance) is marked too */
    agent_pass(F);
    free(loc);
    st = finalize_new(key, kid, "via.example.com", &loc);
    free(st);
    ck_assert_str_eq(q("SELECT kind || ',' || via FROM orders ORDER BY id DESC LIMIT 1"),
                     "reissue,acme\n");
    free(loc);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

/* renewal-info/{AKI.serial} for the certificate of order loc: the window's start. */
static char *ari_start(EVP_PKEY *key, const char *kid, const char *loc, json_t **out)
{
    static const char *const host[] = {"Host: localhost", NULL};
    hresp r = srv_post(key, kid, loc, NULL);
    char *cert = strdup(res_of(jstr(&r, "certificate"))), *pem, *path, *id, *start;
    BIO *b;
    X509 *x;

    hresp_free(&r);
    r = srv_post(key, kid, cert, NULL);
    ck_assert_int_eq(r.status, 200);
    pem = r.body;
    b = BIO_new_mem_buf(pem, -1);
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(x);
    {
        ASN1_INTEGER *ai = X509_get_serialNumber(x);
        BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
        unsigned char raw[64];
        int n = BN_bn2bin(bn, raw);
        char *s64 = cin_b64url_encode(raw, (size_t)n);
        id = cin_asprintf("AAAA.%s", s64);
        free(s64);
        BN_free(bn);
    }
    X509_free(x);
    BIO_free(b);
    hresp_free(&r);
    path = cin_asprintf("/acme/renewal-info/%s", id);
    r = call(F, -1, "GET", path, NULL, host);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    start = strdup(
        json_string_value(json_object_get(json_object_get(r.json, "suggestedWindow"), "start")));
    *out = json_incref(r.json);
    hresp_free(&r);
    free(path);
    free(id);
    free(cert);
    return start;
}

START_TEST(ari_window_is_now_once_the_ca_is_distrusted)
{
    char *kid = NULL, *loc, *st, *start, now[21];
    EVP_PKEY *key = account_for(U_ADMIN, 1, &kid);
    cin_distrust_counts c;
    json_t *j;

    st = finalize_new(key, kid, "ari.example.com", &loc);
    free(st);
    agent_pass(F);
    cin_time_rfc3339(time(NULL), now);
    start = ari_start(key, kid, loc, &j);
    ck_assert_msg(strcmp(start, now) > 0, "window %s starts before now %s", start, now);
    ck_assert_ptr_null(json_object_get(j, "explanationURL"));
    json_decref(j);
    free(start);
    /* issue 14's distrust of the built-in CA: renew now, and why */
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(cin_ca_distrust(F->st, "builtin", NULL, "test", &c, NULL), CIN_OK);
    start = ari_start(key, kid, loc, &j);
    ck_assert_msg(strcmp(start, now) <= 0, "window %s starts after now %s", start, now);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "explanationURL")),
                                 "https://localhost/#/order/R-"));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "reason")), "distrusted"));
    json_decref(j);
    free(start);
    free(loc);
    free(kid);
    EVP_PKEY_free(key);
}
END_TEST

START_TEST(glue_refusals_under_acme_are_acme_problems)
{
    cin_response resp;
    json_t *j;

    ck_assert_int_eq(cin_http_refusal("/acme/new-order", 413, 65536, &resp), 0);
    ck_assert_int_eq(resp.status, 413);
    ck_assert_str_eq(resp.content_type, "application/problem+json");
    j = json_loadb(resp.body, resp.body_len, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
                     "urn:ietf:params:acme:error:malformed");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "detail")), "65536"));
    json_decref(j);
    cin_response_clear(&resp);
    ck_assert_int_eq(cin_http_refusal("/acme/finalize/3", 408, 65536, &resp), 0);
    ck_assert_int_eq(resp.status, 408);
    cin_response_clear(&resp);
    /* elsewhere: API.md's problem, and other statuses stay the glue's */
    ck_assert_int_eq(cin_http_refusal("/api/v1/orders", 413, 65536, &resp), 0);
    j = json_loadb(resp.body, resp.body_len, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
                     "urn:certinext:error:payload_too_large");
    json_decref(j);
    cin_response_clear(&resp);
    ck_assert_int_eq(cin_http_refusal("/api/v1/orders", 400, 65536, &resp), -1);
    ck_assert_int_eq(cin_http_refusal("/acmeX", 413, 10, &resp), 0);
    j = json_loadb(resp.body, resp.body_len, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
                     "urn:certinext:error:payload_too_large");
    json_decref(j);
    cin_response_clear(&resp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("acmesrv");
    TCase *pure = tcase_create("jws"), *tc = tcase_create("server");

    tcase_add_test(pure, jws_verifies_what_the_client_signs);
    tcase_add_test(pure, jws_rejects_malformed_input);
    tcase_add_test(pure, jwk_keys_of_every_kind);
    tcase_add_test(pure, eab_mac);
    tcase_add_test(pure, glue_refusals_under_acme_are_acme_problems);
    suite_add_tcase(s, pure);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, nonce_used_once);
    tcase_add_test(tc, nonces_are_stateless_until_spent);
    tcase_add_test(tc, order_auto_pay_issues);
    tcase_add_test(tc, basic_user_waits_and_rejection_carries_reason);
    tcase_add_test(tc, bad_input_writes_nothing);
    tcase_add_test(tc, credential_rules);
    tcase_add_test(tc, disabled_user_and_deleted_credential);
    tcase_add_test(tc, ip_allowlist_applies);
    tcase_add_test(tc, account_update_is_compare_and_set);
    tcase_add_test(tc, finalize_claims_the_order);
    tcase_add_test(tc, admin_without_auto_pay_waits_for_payment);
    tcase_add_test(tc, sub_account_auto_pay_needs_the_parents_policy);
    tcase_add_test(tc, acme_orders_carry_the_credentials_fields);
    tcase_add_test(tc, reissues_are_limited);
    tcase_add_test(tc, rerun_during_issuance_gets_its_key_without_second_charge);
    tcase_add_test(tc, new_authz_preauthorizes_owned_names);
    tcase_add_test(tc, deactivated_authorization_invalidates_its_order);
    tcase_add_test(tc, orders_use_preauthorizations);
    tcase_add_test(tc, orders_from_acme_say_so);
    tcase_add_test(tc, ari_window_is_now_once_the_ca_is_distrusted);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
