/*
 * test_acme.c - the ACME connector (common/src/acme*.c) against a scripted
 * fake CA, with no network.
 *
 * The fake takes libcurl's place through the connector's HTTP ops
 * (acme_http_use).  A test writes the script: each expected request (method
 * and URL) with its canned answer.  The fake checks every request against the
 * next line of the script, answers with a fresh Replay-Nonce, decodes what
 * the client signed (the JWS's protected header and payload) and checks
 * that every nonce it sees is one it handed out, used once.  A request the
 * script does not expect fails the test at once, and a script not played to
 * its end fails it too: so a client that e.g. finalizes a cancelled order
 * fails.  Retry-After reaches the client as libcurl's CURLINFO_RETRY_AFTER
 * gives it (seconds; an HTTP date turned into seconds by curl_getdate, the
 * parser libcurl uses); the libcurl side itself is test_acme_http.c's.
 *
 * The agent drives the connector as it does in a server (agent_pass), so
 * the tests assert what the store then holds: order status and error type,
 * attempts and next attempt, certificates, challenge answers, audit events.
 *
 * The connector's sources are included (h2o's t/00unit/ style), for the
 * static helpers some checks use.
 */
#include "../../common/src/acme.c"
#include "../../common/src/acme_account.c"
#include "../../common/src/acme_finalize.c"
#include "../../common/src/acme_http.c"
#include "../../common/src/acme_order.c"

#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "cin_agent.h"
#include "cin_order.h"
#include "cin_mirror.h"
#include "cin_tls.h"
#include "harness.h"

#define CA   "https://ca.test"
#define NAME "acme1.example.com"
#define DIRECTORY                                                                                  \
    "{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA             \
    "/order\",\"revokeCert\":\"" CA "/revoke\",\"meta\":{\"termsOfService\":\"" CA "/tos\"%s}}"
#define CHAIN_TYPE "Content-Type: application/pem-certificate-chain\n"
#define MAX_STEPS  64
#define MAX_NONCES 256

typedef struct step {
    char *method, *url, *headers, *body;
    int status;         /* 0: the CA cannot be reached */
    void (*hook)(void); /* run when the request arrives (another host acts meanwhile) */
} step;

typedef struct seen {
    char *method, *url, *accept;
    json_t *prot;  /* a POST's JWS protected header */
    char *payload; /* a POST's JWS payload ("" for POST-as-GET) */
} seen;

static struct {
    step steps[MAX_STEPS];
    int nsteps, next;
    seen seen[MAX_STEPS];
    int nseen;
    char *nonces[MAX_NONCES];
    int used[MAX_NONCES], nnonces;
    char trouble[512]; /* the first nonce misuse seen */
} FK;

static fixture *F;

/* ---- the fake CA ----------------------------------------------------------- */

/* Expect a request; path is appended to CA.  The fake copies everything. */
static void expect(const char *method, const char *path, int status, const char *headers,
                   const char *body)
{
    step *s = &FK.steps[FK.nsteps++];

    ck_assert_int_lt(FK.nsteps, MAX_STEPS);
    s->method = strdup(method);
    s->url = cin_asprintf("%s%s", CA, path);
    s->headers = cin_strdup(headers);
    s->body = cin_strdup(body);
    s->status = status;
}

/* Run fn when the last expected request arrives. */
static void on_arrival(void (*fn)(void))
{
    FK.steps[FK.nsteps - 1].hook = fn;
}

/* What libcurl's CURLINFO_RETRY_AFTER reports for a Retry-After value. */
static long long curl_retry_after(const char *v)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    time_t t;

    if (*v != '-' && end != v && *end == '\0')
        return n;
    t = curl_getdate(v, NULL);
    return t == -1 ? 0 : (long long)(t - time(NULL));
}

static void answer_headers(const char *headers, acme_http_resp *h)
{
    char *copy = cin_strdup(headers), *save = NULL, *line;

    for (line = copy ? strtok_r(copy, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *v = strchr(line, ':');
        ck_assert_ptr_nonnull(v);
        *v++ = '\0';
        v += strspn(v, " ");
        if (!strcmp(line, "Location"))
            h->location = strdup(v);
        else if (!strcmp(line, "Content-Type"))
            h->ctype = strdup(v);
        else if (!strcmp(line, "Retry-After"))
            h->retry_after = curl_retry_after(v);
        else if (!strcmp(line, "Link") && h->nlinks < ACME_MAX_LINKS)
            h->links[h->nlinks++] = strdup(v);
    }
    free(copy);
}

static char *b64_text(const char *b64)
{
    size_t n = 0;
    unsigned char *raw = b64 ? cin_b64url_decode(b64, &n) : NULL;
    char *s = raw ? strndup((const char *)raw, n) : NULL;

    free(raw);
    return s;
}

/* Record a request; a POST's JWS is decoded and its nonce checked. */
static void record(const char *method, const char *url, const char *const *headers,
                   const char *body)
{
    seen *w = &FK.seen[FK.nseen++];
    const char *nonce;
    json_t *jws;
    char *prot;
    int i;

    ck_assert_int_lt(FK.nseen, MAX_STEPS);
    memset(w, 0, sizeof(*w));
    w->method = strdup(method);
    w->url = strdup(url);
    for (i = 0; headers && headers[i]; i++)
        if (!strncmp(headers[i], "Accept: ", 8))
            w->accept = strdup(headers[i] + 8);
    if (strcmp(method, "POST"))
        return;
    jws = json_loads(body, 0, NULL);
    ck_assert_msg(jws != NULL, "POST %s: the body is no JWS", url);
    prot = b64_text(json_string_value(json_object_get(jws, "protected")));
    w->prot = prot ? json_loads(prot, 0, NULL) : NULL;
    w->payload = b64_text(json_string_value(json_object_get(jws, "payload")));
    free(prot);
    json_decref(jws);
    ck_assert_msg(w->prot && w->payload, "POST %s: the JWS cannot be read", url);
    ck_assert_str_eq(json_string_value(json_object_get(w->prot, "url")), url);
    nonce = json_string_value(json_object_get(w->prot, "nonce"));
    for (i = 0; nonce && i < FK.nnonces; i++)
        if (!strcmp(FK.nonces[i], nonce))
            break;
    if (!FK.trouble[0] && (!nonce || i == FK.nnonces || FK.used[i]))
        snprintf(FK.trouble, sizeof(FK.trouble), "POST %s used nonce %s: %s", url,
                 nonce ? nonce : "(none)", i == FK.nnonces ? "never handed out" : "used before");
    if (nonce && i < FK.nnonces)
        FK.used[i] = 1;
}

static int fake_request(void *client, const char *method, const char *url,
                        const char *const *headers, const char *body, acme_http_resp *h, char *err,
                        size_t errlen)
{
    step *s;

    (void)client;
    memset(h, 0, sizeof(*h));
    record(method, url, headers, body);
    ck_assert_msg(FK.next < FK.nsteps, "unexpected request %d: %s %s", FK.nseen, method, url);
    s = &FK.steps[FK.next++];
    ck_assert_msg(!strcmp(method, s->method) && !strcmp(url, s->url),
                  "request %d: expected %s %s, got %s %s", FK.next, s->method, s->url, method, url);
    if (s->hook)
        s->hook();
    if (!s->status) {
        snprintf(err, errlen, "Failed to connect to ca.test port 443: Connection refused");
        return CIN_EIO;
    }
    h->status = s->status;
    answer_headers(s->headers, h);
    ck_assert_int_lt(FK.nnonces, MAX_NONCES);
    FK.nonces[FK.nnonces] = cin_asprintf("nonce-%d", FK.nnonces);
    h->nonce = strdup(FK.nonces[FK.nnonces++]);
    if (s->body && strcmp(method, "HEAD")) {
        h->body = strdup(s->body);
        h->len = strlen(s->body);
    }
    return CIN_OK;
}

static void *fake_open(const char *trust_pem)
{
    (void)trust_pem;
    return &FK;
}

static void fake_close(void *client)
{
    ck_assert_ptr_eq(client, &FK);
}

static const acme_http_ops fake_ops = {fake_open, fake_request, fake_close};

/* The script was played to its end, with every nonce fresh. */
static void fake_done(void)
{
    ck_assert_msg(FK.next == FK.nsteps, "the client stopped after %d of %d requests; next: %s %s",
                  FK.next, FK.nsteps, FK.steps[FK.next].method, FK.steps[FK.next].url);
    ck_assert_msg(!FK.trouble[0], "%s", FK.trouble);
}

static void fake_free(void)
{
    int i;

    for (i = 0; i < FK.nsteps; i++) {
        free(FK.steps[i].method);
        free(FK.steps[i].url);
        free(FK.steps[i].headers);
        free(FK.steps[i].body);
    }
    for (i = 0; i < FK.nseen; i++) {
        free(FK.seen[i].method);
        free(FK.seen[i].url);
        free(FK.seen[i].accept);
        free(FK.seen[i].payload);
        json_decref(FK.seen[i].prot);
    }
    for (i = 0; i < FK.nnonces; i++)
        free(FK.nonces[i]);
    memset(&FK, 0, sizeof(FK));
}

/* How many requests to CA path were made from request number `from` on. */
static int requests_to(int from, const char *path)
{
    char url[256];
    int i, n = 0;

    snprintf(url, sizeof(url), "%s%s", CA, path);
    for (i = from; i < FK.nseen; i++)
        n += !strcmp(FK.seen[i].url, url);
    return n;
}

/* The last request to CA path (it must have been made). */
static const seen *last_to(const char *path)
{
    char url[256];
    int i;

    snprintf(url, sizeof(url), "%s%s", CA, path);
    for (i = FK.nseen - 1; i >= 0; i--)
        if (!strcmp(FK.seen[i].url, url))
            return &FK.seen[i];
    ck_abort_msg("no request to %s", url);
    return NULL;
}

static const char *kid_of(const seen *w)
{
    return json_string_value(json_object_get(w->prot, "kid"));
}

/* ---- answers ---------------------------------------------------------------- */

/* Every call starts with the directory and a nonce. */
static void hello(void)
{
    char dir[1024];

    snprintf(dir, sizeof(dir), DIRECTORY, "");
    expect("GET", "/dir", 200, "Content-Type: application/json", dir);
    expect("HEAD", "/nonce", 200, NULL, NULL);
}

/* An order document (a static buffer of a few in turn). */
static const char *order_doc(const char *status, const char *extra)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ % 4];

    snprintf(b, sizeof(buf[0]),
             "{\"status\":\"%s\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"" NAME "\"}],"
             "\"authorizations\":[\"" CA "/authz/1\"],\"finalize\":\"" CA "/order/1/finalize\"%s}",
             status, extra ? extra : "");
    return b;
}

static const char *problem_doc(const char *type, const char *detail)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ % 4];

    snprintf(b, sizeof(buf[0]), "{\"type\":\"urn:ietf:params:acme:error:%s\",\"detail\":\"%s\"}",
             type, detail);
    return b;
}

#define JSON    "Content-Type: application/json"
#define PROBLEM "Content-Type: application/problem+json"
#define CREATED "Content-Type: application/json\nLocation: " CA "/order/1"

/* A certificate whose issuer is named issuer_cn (a chain's links need not
 * verify: the connector reads names, the store the leaf's facts). */
static char *make_cert(const char *cn, const char *issuer_cn)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *iss = X509_NAME_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *pem;
    long len;

    ck_assert(key && x && iss && b);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff) + 1);
    X509_set_version(x, 2);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(iss, "CN", MBSTRING_UTF8, (const unsigned char *)issuer_cn, -1, -1,
                               0);
    X509_set_issuer_name(x, iss);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 90 * 86400L);
    X509_set_pubkey(x, key);
    {
        /* an Authority Key Identifier, as CAs write it (ARI's CertID reads it) */
        AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
        unsigned char kid[20];
        memset(kid, 0xA5, sizeof(kid));
        aki->keyid = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(aki->keyid, kid, sizeof(kid));
        X509_add1_ext_i2d(x, NID_authority_key_identifier, aki, 0, X509V3_ADD_DEFAULT);
        AUTHORITY_KEYID_free(aki);
    }
    ck_assert(X509_sign(x, key, EVP_sha256()) > 0 && PEM_write_bio_X509(b, x));
    len = BIO_get_mem_data(b, &data);
    pem = strndup(data, (size_t)len);
    BIO_free(b);
    X509_NAME_free(iss);
    X509_free(x);
    EVP_PKEY_free(key);
    return pem;
}

/* leaf + an intermediate issued by root_cn: chain_prefers reads root_cn. */
static char *make_chain(const char *leaf, const char *root_cn)
{
    char *inter = make_cert("Test Intermediate", root_cn), *chain;

    chain = cin_asprintf("%s%s", leaf, inter);
    free(inter);
    return chain;
}

/* ---- the store --------------------------------------------------------------- */

static void setup(void)
{
    cin_ca_config c;

    F = fixture_new();
    memset(&c, 0, sizeof(c));
    c.name = "fake";
    c.kind = "acme";
    c.directory_url = CA "/dir";
    c.contact = "mailto:hostmaster@example.com";
    ck_assert_int_eq(cin_store_ca_add(F->st, &c, NULL, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_product_set_ca(F->st, "dv-ssl", "fake", NULL), CIN_OK);
    acme_http_use(&fake_ops);
}

static void teardown(void)
{
    acme_http_use(NULL);
    fixture_free(F);
    F = NULL;
    fake_free();
}

static void ca_set(const char *column, const char *value)
{
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_ca_set(F->st, "fake", column, value), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
}

/* The CA knows our account already (most tests start there). */
static void account_known(void)
{
    ca_set("account_url", CA "/acct/1");
}

/* A paid order for name, at the fake CA: its id. */
static int64_t paid(const char *name)
{
    char names[128], path[96];
    int64_t id;
    hresp r;

    snprintf(names, sizeof(names), "[\"%s\"]", name);
    id = cin_order_parse_id(order_new(F, U_ADMIN, "dv-ssl", names));
    snprintf(path, sizeof(path), "/api/v1/orders/R-%06lld/pay", (long long)id);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    return id;
}

static void order_action(int64_t id, const char *action, const char *body)
{
    char path[96];
    hresp r;

    snprintf(path, sizeof(path), "/api/v1/orders/R-%06lld/%s", (long long)id, action);
    r = call(F, U_ADMIN, "POST", path, body, NULL);
    ck_assert_msg(r.status == 200, "%s: %d %s", action, r.status, r.body);
    hresp_free(&r);
}

static cin_order get(int64_t id)
{
    cin_order o;

    ck_assert_int_eq(cin_store_order_get(F->st, id, &o), CIN_OK);
    return o;
}

/* The next attempt is due now (the agent's clock is the wall clock). */
static void make_due(int64_t id)
{
    cin_order o;

    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_order_get(F->st, id, &o), CIN_OK);
    o.next_attempt_at = 0;
    ck_assert_int_eq(cin_store_order_update(F->st, &o), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    cin_order_clear(&o);
}

/* Status, attempts, error type (a URI, or one of our codes, or "-" for no
 * error) and the next attempt in seconds from now (-1: not checked). */
static void check_order(int64_t id, const char *status, int attempts, const char *type,
                        long next_in)
{
    cin_order o = get(id);
    cin_problem p;
    char got[160], want[160];
    long in = (long)(o.next_attempt_at - time(NULL));

    ck_assert_str_eq(o.status, status);
    ck_assert_int_eq(o.attempts, attempts);
    if (!strcmp(type, "-")) {
        ck_assert_msg(o.error_json == NULL, "unexpected error %s", o.error_json);
    } else {
        ck_assert_int_eq(cin_problem_parse(o.error_json, &p), CIN_OK);
        snprintf(got, sizeof(got), "%s%s",
                 p.type ? "" : "urn:certinext:error:", p.type ? p.type : p.code);
        snprintf(want, sizeof(want), "%s%s", strchr(type, ':') ? "" : "urn:certinext:error:", type);
        ck_assert_str_eq(got, want);
        cin_problem_clear(&p);
    }
    if (next_in >= 0)
        ck_assert_msg(in >= next_in - 3 && in <= next_in + 1, "next attempt in %ld s, not %ld", in,
                      next_in);
    cin_order_clear(&o);
}

/* Events of an order with this action; the last one's detail into *detail. */
static int events(int64_t id, const char *action, char **detail)
{
    cin_order o = get(id);
    cin_event *e = NULL;
    size_t n = 0, i;
    int count = 0;

    ck_assert_int_eq(cin_store_event_list(F->st, o.account_id, id, 0, 100, &e, &n), CIN_OK);
    for (i = 0; i < n; i++) {
        if (strcmp(e[i].action, action))
            continue;
        count++;
        if (detail) {
            free(*detail);
            *detail = cin_strdup(e[i].detail);
        }
    }
    cin_event_list_free(e, n);
    cin_order_clear(&o);
    return count;
}

static json_t *state_of(int64_t id)
{
    return acme_state_load(F->st, "fake", id);
}

static char *key_authorization(const char *token)
{
    char *content = NULL;

    if (cin_store_challenge_get(F->st, "acme", token, &content) != CIN_OK)
        return NULL;
    return content;
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(issues_through_every_step)
{
    int64_t id = paid(NAME);
    char *leaf = make_cert(NAME, "Test Intermediate"), *chain = make_chain(leaf, "Test Root");
    char *pem = NULL, *want, *keyauth, date[64], hdrs[128];
    EVP_PKEY *key;
    const seen *w;
    cin_cert c;
    cin_order o;
    time_t later = time(NULL) + 120;
    json_t *state;
    hresp r;

    /* 1: account, order, one authorization pending (http-01 answered), one valid */
    hello();
    expect("POST", "/acct", 201, "Location: " CA "/acct/1", "{\"status\":\"valid\"}");
    expect("POST", "/order", 201, CREATED,
           order_doc("pending", ",\"authorizations\":[\"" CA "/authz/1\",\"" CA "/authz/2\"]"));
    expect("POST", "/authz/1", 200, JSON,
           "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"" NAME "\"},"
           "\"challenges\":[{\"type\":\"dns-01\",\"url\":\"" CA "/chall/9\",\"token\":\"dns\","
           "\"status\":\"pending\"},{\"type\":\"http-01\",\"url\":\"" CA "/chall/1\","
           "\"token\":\"tok-1_A\",\"status\":\"pending\"}]}");
    expect("POST", "/chall/1", 200, JSON, "{\"type\":\"http-01\",\"status\":\"processing\"}");
    expect("POST", "/authz/2", 200, JSON, "{\"status\":\"valid\",\"challenges\":[]}");
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 0, "-", 1);
    w = last_to("/acct");
    ck_assert_ptr_null(kid_of(w)); /* a registration is signed with the JWK */
    ck_assert_ptr_nonnull(json_object_get(w->prot, "jwk"));
    ck_assert_ptr_nonnull(strstr(w->payload, "\"termsOfServiceAgreed\":true"));
    ck_assert_ptr_nonnull(strstr(w->payload, "mailto:hostmaster@example.com"));
    ck_assert_str_eq(kid_of(last_to("/order")), CA "/acct/1");
    ck_assert_ptr_nonnull(strstr(last_to("/order")->payload, "\"value\":\"" NAME "\""));
    ck_assert_str_eq(last_to("/authz/1")->payload, ""); /* POST-as-GET */
    ck_assert_str_eq(last_to("/chall/1")->payload, "{}");
    ck_assert_int_eq(requests_to(0, "/chall/9"), 0);
    /* the key authorization is in the store, and both modules answer it */
    ck_assert_int_eq(cin_store_ca_get_secret(F->st, "fake", "account_key", &pem), CIN_OK);
    key = cin_key_from_pem(pem);
    cin_free_secret(pem, strlen(pem));
    keyauth = jws_thumbprint(key);
    want = cin_asprintf("tok-1_A.%s", keyauth);
    free(keyauth);
    EVP_PKEY_free(key);
    keyauth = key_authorization("tok-1_A");
    ck_assert_str_eq(keyauth, want);
    free(keyauth);
    r = call(F, -1, "GET", "/.well-known/acme-challenge/tok-1_A", NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, want);
    hresp_free(&r);
    free(want);

    /* 2: ready -> finalize with the order's CSR; the CA says when to look */
    make_due(id);
    hello();
    expect("POST", "/order/1", 200, JSON, order_doc("ready", NULL));
    expect("POST", "/order/1/finalize", 200, "Content-Type: application/json\nRetry-After: 7",
           order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 0, "-", 7);
    o = get(id);
    want = csr_der_b64(o.csr_pem);
    cin_order_clear(&o);
    ck_assert_ptr_nonnull(strstr(last_to("/order/1/finalize")->payload, want));
    free(want);
    ck_assert_str_eq(kid_of(last_to("/order/1/finalize")), CA "/acct/1");
    state = state_of(id);
    ck_assert(json_is_true(json_object_get(state, "finalized")));
    json_decref(state);

    /* 3: still processing; Retry-After as an HTTP date */
    make_due(id);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&later));
    snprintf(hdrs, sizeof(hdrs), "Content-Type: application/json\nRetry-After: %s", date);
    hello();
    expect("POST", "/order/1", 200, hdrs, order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 0, "-", 120);

    /* 4: valid -> the chain is downloaded and served */
    make_due(id);
    hello();
    expect("POST", "/order/1", 200, JSON, order_doc("valid", ",\"certificate\":\"" CA "/cert/1\""));
    expect("POST", "/cert/1", 200, CHAIN_TYPE, chain);
    agent_pass(F);
    fake_done();
    check_order(id, "issued", 0, "-", -1);
    ck_assert_str_eq(last_to("/cert/1")->accept, "application/pem-certificate-chain");
    o = get(id);
    ck_assert_int_eq(cin_store_cert_get(F->st, o.cert_id, &c), CIN_OK);
    ck_assert_str_eq(c.chain_pem, chain);
    ck_assert_str_eq(c.status, "active");
    cin_cert_clear(&c);
    cin_order_clear(&o);
    keyauth = key_authorization("tok-1_A");
    ck_assert_ptr_null(keyauth); /* the challenge answers went with the order */
    free(leaf);
    free(chain);
}
END_TEST

START_TEST(external_account_binding)
{
    static const unsigned char hmac_key[32] = "0123456789abcdef0123456789abcdef";
    char *hmac64 = cin_b64url_encode(hmac_key, sizeof(hmac_key)), dir[1024], *eabp, *input;
    unsigned char mac[32];
    unsigned int maclen = 0;
    json_t *payload, *eab, *eprot;
    int64_t id;
    const seen *w;
    char *detail = NULL, *sig64;

    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_ca_set(F->st, "fake", "eab_kid", "kid-7"), CIN_OK);
    ck_assert_int_eq(cin_store_ca_set_secret(F->st, "fake", "eab_hmac", hmac64), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    id = paid(NAME);
    snprintf(dir, sizeof(dir), DIRECTORY, ",\"externalAccountRequired\":true");
    expect("GET", "/dir", 200, JSON, dir);
    expect("HEAD", "/nonce", 200, NULL, NULL);
    expect("POST", "/acct", 201, "Location: " CA "/acct/1", "{}");
    expect("POST", "/order", 403, PROBLEM, problem_doc("rejectedIdentifier", "no such name"));
    agent_pass(F);
    fake_done();
    /* the binding: HS256 over the account's JWK, keyed by the EAB key */
    w = last_to("/acct");
    payload = json_loads(w->payload, 0, NULL);
    eab = json_object_get(payload, "externalAccountBinding");
    ck_assert_ptr_nonnull(eab);
    eabp = b64_text(json_string_value(json_object_get(eab, "protected")));
    eprot = json_loads(eabp, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(eprot, "alg")), "HS256");
    ck_assert_str_eq(json_string_value(json_object_get(eprot, "kid")), "kid-7");
    ck_assert_str_eq(json_string_value(json_object_get(eprot, "url")), CA "/acct");
    input = cin_asprintf("%s.%s", json_string_value(json_object_get(eab, "protected")),
                         json_string_value(json_object_get(eab, "payload")));
    HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key), (const unsigned char *)input, strlen(input), mac,
         &maclen);
    sig64 = cin_b64url_encode(mac, maclen);
    ck_assert_str_eq(json_string_value(json_object_get(eab, "signature")), sig64);
    /* the CA's refusal of the order is the order's error, in its own words */
    check_order(id, "failed", 0, "urn:ietf:params:acme:error:rejectedIdentifier", -1);
    ck_assert_int_eq(events(id, "order.failed", &detail), 1);
    ck_assert_ptr_nonnull(strstr(detail, "no such name"));
    ck_assert_ptr_null(strstr(detail, hmac64)); /* no secret in the audit log */
    free(detail);
    free(sig64);
    free(input);
    free(eabp);
    json_decref(eprot);
    json_decref(payload);
    free(hmac64);
}
END_TEST

START_TEST(external_account_binding_missing)
{
    int64_t id = paid(NAME);
    char dir[1024];
    cin_order o;

    snprintf(dir, sizeof(dir), DIRECTORY, ",\"externalAccountRequired\":true");
    expect("GET", "/dir", 200, JSON, dir); /* and nothing else: no account without EAB */
    agent_pass(F);
    fake_done();
    check_order(id, "failed", 0, "ca_error", -1);
    o = get(id);
    ck_assert_ptr_nonnull(strstr(o.error_json, "External Account Binding"));
    ck_assert_ptr_nonnull(strstr(o.error_json, "--eab-kid"));
    cin_order_clear(&o);
}
END_TEST

START_TEST(account_gone_is_registered_again)
{
    int64_t id;
    cin_ca_config c;
    int i, n = 0;

    ca_set("account_url", CA "/acct/old");
    id = paid(NAME);
    hello();
    expect("POST", "/order", 400, PROBLEM, problem_doc("accountDoesNotExist", "no account"));
    expect("POST", "/acct", 201, "Location: " CA "/acct/2", "{}");
    expect("POST", "/order", 201, CREATED, order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 0, "-", 1);
    ck_assert_int_eq(cin_store_ca_get(F->st, "fake", &c), CIN_OK);
    ck_assert_str_eq(c.account_url, CA "/acct/2");
    cin_ca_config_clear(&c);
    /* the first newOrder went out under the old account, the second under the new */
    for (i = 0; i < FK.nseen; i++)
        if (!strcmp(FK.seen[i].url, CA "/order"))
            ck_assert_str_eq(kid_of(&FK.seen[i]), n++ ? CA "/acct/2" : CA "/acct/old");
    ck_assert_int_eq(n, 2);
}
END_TEST

START_TEST(order_gone_starts_afresh)
{
    int64_t id;
    json_t *st;

    account_known();
    id = paid(NAME);
    st = json_pack("{s:s, s:[]}", "order_url", CA "/order/old", "names");
    ck_assert_int_eq(acme_state_save(F->st, "fake", id, st), CIN_OK);
    json_decref(st);
    hello();
    expect("POST", "/order/old", 404, PROBLEM, problem_doc("malformed", "no such order"));
    expect("POST", "/order", 201, "Content-Type: application/json\nLocation: " CA "/order/2",
           order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 0, "-", 1);
    st = state_of(id);
    ck_assert_str_eq(json_string_value(json_object_get(st, "order_url")), CA "/order/2");
    json_decref(st);
}
END_TEST

START_TEST(invalid_challenge_fails_with_the_cas_problem)
{
    int64_t id;
    char *detail = NULL;
    cin_problem p;
    cin_order o;

    account_known();
    id = paid(NAME);
    hello();
    expect("POST", "/order", 201, CREATED, order_doc("invalid", NULL));
    expect("POST", "/authz/1", 200, JSON,
           "{\"status\":\"invalid\",\"challenges\":[{\"type\":\"http-01\",\"url\":\"" CA
           "/chall/1\",\"token\":\"t\",\"status\":\"invalid\",\"error\":{\"type\":"
           "\"urn:ietf:params:acme:error:unauthorized\",\"detail\":\"The key authorization "
           "file from the server did not match\"}}]}");
    agent_pass(F);
    fake_done();
    check_order(id, "failed", 0, "urn:ietf:params:acme:error:unauthorized", -1);
    o = get(id);
    ck_assert_int_eq(cin_problem_parse(o.error_json, &p), CIN_OK);
    ck_assert_int_eq(p.status, 400);
    ck_assert_str_eq(p.detail, "The key authorization file from the server did not match");
    ck_assert_str_eq(p.title, "The CA declared the order invalid");
    cin_problem_clear(&p);
    cin_order_clear(&o);
    ck_assert_ptr_null(state_of(id)); /* a retry starts a new order */
    ck_assert_int_eq(events(id, "order.failed", &detail), 1);
    ck_assert_ptr_nonnull(strstr(detail, "urn:ietf:params:acme:error:unauthorized"));
    free(detail);
    /* the admin retries: a new order at the CA */
    order_action(id, "retry", NULL);
    hello();
    expect("POST", "/order", 201, CREATED, order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 0, "-", 1);
}
END_TEST

/* ---- a fleet: the CA looks only once every host can answer ------------------- */

static int host_caught_up;

static void *slow_host(void *arg)
{
    cin_store_opts o = {F->key_path, NULL, 1, 0, -1};
    cin_store *st = NULL;
    char *content = NULL, q[160];
    uint64_t g = 0;
    int64_t until = cin_monotonic_ms() + 20000;

    (void)arg;
    ck_assert_int_eq(cin_store_open_opts(F->path, NULL, &o, &st, NULL), CIN_OK);
    /* the host's syncer notices the answer (polled: the condition, not a time) */
    while (cin_store_challenge_get(st, "acme", "tok-9", &content) != CIN_OK &&
           cin_monotonic_ms() < until)
        cin_pause_ms(10);
    free(content);
    ck_assert_int_eq(cin_store_generation(st, &g), CIN_OK);
    snprintf(q, sizeof(q), "UPDATE hosts SET synced_gen = %llu WHERE host_id = 'slowhost'",
             (unsigned long long)g);
    ck_assert_int_eq(cin_store_query_text(st, q, &content), CIN_OK);
    free(content);
    __atomic_store_n(&host_caught_up, 1, __ATOMIC_SEQ_CST);
    cin_store_close(st);
    return NULL;
}

static void ca_told_after_every_host(void)
{
    char *row = store_query(F, "SELECT synced_gen FROM hosts WHERE host_id = 'slowhost'");
    uint64_t g = 0;

    ck_assert_int_eq(__atomic_load_n(&host_caught_up, __ATOMIC_SEQ_CST), 1);
    ck_assert_int_eq(cin_store_generation(F->st, &g), CIN_OK);
    ck_assert_uint_ge(strtoull(row, NULL, 10), g);
    free(row);
}

START_TEST(challenge_waits_for_every_live_host)
{
    char q[256], *lag = NULL;
    uint64_t g = 0;
    pthread_t t;
    int64_t id;

    account_known();
    id = paid(NAME);
    ck_assert_int_eq(cin_store_generation(F->st, &g), CIN_OK);
    /* on PostgreSQL this fixture is a host too: its syncer reports g soon */
    ck_assert_int_eq(cin_store_hosts_wait(F->st, g, 10000, NULL), CIN_OK);
    /* a live host one generation behind, and a host gone for an hour */
    snprintf(q, sizeof(q),
             "INSERT INTO hosts(host_id, name, synced_gen, seen_at) VALUES"
             " ('slowhost', 'web2', %llu, %lld), ('gonehost', 'web9', 0, %lld)",
             (unsigned long long)g - 1, (long long)time(NULL) + 600, (long long)time(NULL) - 3600);
    free(store_query(F, q));
    ck_assert_int_eq(cin_store_hosts_wait(F->st, g - 1, 100, &lag), CIN_OK);
    ck_assert_int_eq(cin_store_hosts_wait(F->st, g, 100, &lag), CIN_EBUSY);
    ck_assert_str_eq(lag, "web2 (slowhost)");
    free(lag);
    /* the agent stores the answer, waits for web2, then tells the CA */
    ck_assert_int_eq(pthread_create(&t, NULL, slow_host, NULL), 0);
    hello();
    expect("POST", "/order", 201, CREATED, order_doc("pending", NULL));
    expect("POST", "/authz/1", 200, JSON,
           "{\"status\":\"pending\",\"challenges\":[{\"type\":\"http-01\",\"url\":\"" CA
           "/chall/1\",\"token\":\"tok-9\",\"status\":\"pending\"}]}");
    expect("POST", "/chall/1", 200, JSON, "{\"type\":\"http-01\",\"status\":\"processing\"}");
    on_arrival(ca_told_after_every_host);
    agent_pass(F);
    pthread_join(t, NULL);
    fake_done();
    check_order(id, "processing", 0, "-", -1);
}
END_TEST

START_TEST(server_errors_and_rate_limits_are_transient)
{
    int64_t id;
    cin_order o;

    account_known();
    id = paid(NAME);
    hello();
    expect("POST", "/order", 503, "Content-Type: text/html\nRetry-After: 30", "<html>down</html>");
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 1, "ca_unavailable", 30);
    make_due(id);
    hello();
    expect("POST", "/order", 429, "Content-Type: application/problem+json\nRetry-After: 3600",
           problem_doc("rateLimited", "Too many new orders recently"));
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 2, "ca_unavailable", 3600);
    o = get(id);
    ck_assert_ptr_nonnull(strstr(o.error_json, "Too many new orders recently"));
    cin_order_clear(&o);
    /* unreachable: the agent's backoff (5 s doubled per attempt) */
    make_due(id);
    expect("GET", "/dir", 0, NULL, NULL);
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 3, "ca_unavailable", 20);
    ck_assert_int_eq(events(id, "order.retry_later", NULL), 3);
}
END_TEST

START_TEST(bad_nonce_retried_then_transient)
{
    int64_t id;
    cin_order o;
    int i;

    account_known();
    id = paid(NAME);
    /* once: retried at once with the nonce the refusal carries (no HEAD) */
    hello();
    expect("POST", "/order", 400, PROBLEM, problem_doc("badNonce", "stale nonce"));
    expect("POST", "/order", 201, CREATED, order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 0, "-", 1);
    /* ten in a row: transient, never a failed order */
    make_due(id);
    hello();
    for (i = 0; i < 10; i++)
        expect("POST", "/order/1", 400, PROBLEM, problem_doc("badNonce", "stale nonce"));
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 1, "ca_unavailable", -1);
    o = get(id);
    ck_assert_ptr_nonnull(strstr(o.error_json, "badNonce"));
    cin_order_clear(&o);
}
END_TEST

START_TEST(preferred_alternate_chain)
{
    char *leaf = make_cert(NAME, "Test Intermediate");
    char *def = make_chain(leaf, "Default Root"), *other = make_chain(leaf, "Other Root");
    char *pref = make_chain(leaf, "Preferred Root X1");
    cin_ca_config ca;
    int64_t id, id2;
    cin_order o;
    cin_cert c;

    memset(&ca, 0, sizeof(ca));
    ca.name = "preferring";
    ca.kind = "acme";
    ca.directory_url = CA "/dir";
    ca.preferred_chain = "Preferred Root";
    ck_assert_int_eq(cin_store_ca_add(F->st, &ca, NULL, NULL), CIN_OK);
    ck_assert_int_eq(cin_store_begin(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_ca_set(F->st, "preferring", "account_url", CA "/acct/1"), CIN_OK);
    ck_assert_int_eq(cin_store_commit(F->st), CIN_OK);
    ck_assert_int_eq(cin_store_product_set_ca(F->st, "dv-ssl", "preferring", NULL), CIN_OK);
    id = paid(NAME);
    hello();
    expect("POST", "/order", 201, CREATED,
           order_doc("valid", ",\"certificate\":\"" CA "/cert/1\""));
    expect("POST", "/cert/1", 200,
           CHAIN_TYPE "Link: <" CA "/dir>;rel=\"index\"\nLink: <" CA "/cert/1/1>;rel=\"alternate\""
                      "\nLink: <" CA "/cert/1/2>; rel=\"alternate\"",
           def);
    expect("POST", "/cert/1/1", 200, CHAIN_TYPE, other);
    expect("POST", "/cert/1/2", 200, CHAIN_TYPE, pref);
    agent_pass(F);
    fake_done();
    check_order(id, "issued", 0, "-", -1);
    ck_assert_str_eq(last_to("/cert/1/2")->accept, "application/pem-certificate-chain");
    o = get(id);
    ck_assert_int_eq(cin_store_cert_get(F->st, o.cert_id, &c), CIN_OK);
    ck_assert_str_eq(c.chain_pem, pref);
    cin_cert_clear(&c);
    cin_order_clear(&o);
    /* no preference: the default chain, no alternate fetched */
    account_known();
    ck_assert_int_eq(cin_store_product_set_ca(F->st, "dv-ssl", "fake", NULL), CIN_OK);
    id2 = paid("acme2.example.com");
    hello();
    expect("POST", "/order", 201, CREATED,
           order_doc("valid", ",\"certificate\":\"" CA "/cert/1\""));
    expect("POST", "/cert/1", 200, CHAIN_TYPE "Link: <" CA "/cert/1/1>;rel=\"alternate\"", def);
    agent_pass(F);
    fake_done();
    o = get(id2);
    ck_assert_int_eq(cin_store_cert_get(F->st, o.cert_id, &c), CIN_OK);
    ck_assert_str_eq(c.chain_pem, def);
    cin_cert_clear(&c);
    cin_order_clear(&o);
    free(leaf);
    free(def);
    free(other);
    free(pref);
}
END_TEST

/* An order issued in one pass (the CA's order is valid at once): its cert id. */
static int64_t issued(const char *name, char **leaf)
{
    int64_t id = paid(name), cert_id;
    char *chain;
    cin_order o;

    *leaf = make_cert(name, "Test Intermediate");
    chain = make_chain(*leaf, "Test Root");
    hello();
    expect("POST", "/order", 201, CREATED,
           order_doc("valid", ",\"certificate\":\"" CA "/cert/1\""));
    expect("POST", "/cert/1", 200, CHAIN_TYPE, chain);
    agent_pass(F);
    fake_done();
    o = get(id);
    ck_assert_str_eq(o.status, "issued");
    cert_id = o.cert_id;
    cin_order_clear(&o);
    free(chain);
    return cert_id;
}

static int notified(int64_t cert_id)
{
    cin_cert c;
    int n;

    ck_assert_int_eq(cin_store_cert_get(F->st, cert_id, &c), CIN_OK);
    n = c.ca_notified;
    cin_cert_clear(&c);
    return n;
}

START_TEST(revocation_reaches_the_ca)
{
    char *leaf[4], *b64, *detail = NULL;
    int64_t cert[4];
    STACK_OF(X509) * sk;
    unsigned char *der = NULL;
    cin_cert c;
    int i, len;

    account_known();
    for (i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof(name), "rev%d.example.com", i);
        cert[i] = issued(name, &leaf[i]);
    }
    /* revoked by the API: only marked; the agent tells the CA */
    ck_assert_int_eq(cin_store_cert_get(F->st, cert[0], &c), CIN_OK);
    order_action(c.order_id, "revoke", "{\"reason\":\"keyCompromise\"}");
    cin_cert_clear(&c);
    hello();
    expect("POST", "/revoke", 200, NULL, NULL);
    agent_pass(F);
    fake_done();
    ck_assert_int_eq(notified(cert[0]), 1);
    sk = cin_chain_parse(leaf[0]);
    len = i2d_X509(sk_X509_value(sk, 0), &der);
    b64 = cin_b64url_encode(der, (size_t)len);
    ck_assert_ptr_nonnull(strstr(last_to("/revoke")->payload, b64));
    ck_assert_ptr_nonnull(strstr(last_to("/revoke")->payload, "\"reason\":1"));
    free(b64);
    OPENSSL_free(der);
    sk_X509_pop_free(sk, X509_free);
    /* the CA knew already: told all the same */
    ck_assert_int_eq(cin_store_cert_get(F->st, cert[1], &c), CIN_OK);
    order_action(c.order_id, "revoke", "{\"reason\":\"superseded\"}");
    hello();
    expect("POST", "/revoke", 400, PROBLEM, problem_doc("alreadyRevoked", "revoked already"));
    agent_pass(F);
    fake_done();
    ck_assert_int_eq(notified(cert[1]), 1);
    ck_assert_int_eq(events(c.order_id, "certificate.revocation_sent", NULL), 1);
    cin_cert_clear(&c);
    /* a reset CA: the account is registered again and the CA asked again */
    ck_assert_int_eq(cin_store_cert_get(F->st, cert[2], &c), CIN_OK);
    order_action(c.order_id, "revoke", "{\"reason\":\"unspecified\"}");
    cin_cert_clear(&c);
    hello();
    expect("POST", "/revoke", 400, PROBLEM, problem_doc("accountDoesNotExist", "no account"));
    expect("POST", "/acct", 201, "Location: " CA "/acct/9", "{}");
    expect("POST", "/revoke", 200, NULL, NULL);
    agent_pass(F);
    fake_done();
    ck_assert_int_eq(notified(cert[2]), 1);
    ck_assert_str_eq(kid_of(last_to("/revoke")), CA "/acct/9");
    /* refused for good: said once, with the CA's problem, in the audit log */
    ck_assert_int_eq(cin_store_cert_get(F->st, cert[3], &c), CIN_OK);
    order_action(c.order_id, "revoke", "{\"reason\":\"unspecified\"}");
    hello();
    expect("POST", "/revoke", 403, PROBLEM, problem_doc("unauthorized", "not yours"));
    agent_pass(F);
    fake_done();
    ck_assert_int_eq(notified(cert[3]), 2);
    ck_assert_int_eq(events(c.order_id, "certificate.revocation_refused", &detail), 1);
    ck_assert_ptr_nonnull(strstr(detail, "urn:ietf:params:acme:error:unauthorized"));
    cin_cert_clear(&c);
    free(detail);
    for (i = 0; i < 4; i++)
        free(leaf[i]);
}
END_TEST

/* The certificate stored for an order (also one it does not serve). */
static int64_t cert_of(int64_t order_id)
{
    int64_t k, found = 0;
    cin_cert c;

    for (k = 1; k < 100 && !found; k++) {
        if (cin_store_cert_get(F->st, k, &c) != CIN_OK)
            continue;
        if (c.order_id == order_id)
            found = c.id;
        cin_cert_clear(&c);
    }
    return found;
}

/* Does the SNI index serve cert_id for name? */
static int served(const char *name, int64_t cert_id)
{
    cin_name_entry *e = NULL;
    size_t n = 0, i;
    uint64_t gen = 0;
    int found = 0;

    ck_assert_int_eq(cin_store_names_since(F->st, 0, &e, &n, &gen), CIN_OK);
    for (i = 0; i < n; i++)
        found |= !strcmp(e[i].name, name) && e[i].cert_id == cert_id;
    cin_name_entries_free(e, n);
    return found;
}

START_TEST(cancelled_after_finalize_is_fetched_and_revoked)
{
    char *leaf = make_cert(NAME, "Test Intermediate"), *chain = make_chain(leaf, "Test Root");
    int64_t id, cert_id;
    cin_agent_stats s;
    cin_order o;
    cin_cert c;
    int mark;

    account_known();
    id = paid(NAME);
    hello();
    expect("POST", "/order", 201, CREATED, order_doc("ready", NULL));
    expect("POST", "/order/1/finalize", 200, JSON, order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    order_action(id, "cancel", NULL);
    o = get(id);
    ck_assert_int_eq(o.ca_cleanup, 1);
    cin_order_clear(&o);
    mark = FK.nseen;
    /* the CA is still issuing: asked again after its Retry-After */
    make_due(id);
    hello();
    expect("POST", "/order/1", 200, "Content-Type: application/json\nRetry-After: 60",
           order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    o = get(id);
    ck_assert_str_eq(o.status, "cancelled");
    ck_assert_int_eq(o.ca_cleanup, 1);
    ck_assert_int_ge(o.next_attempt_at, time(NULL) + 57);
    cin_order_clear(&o);
    /* issued: fetched, stored revoked and never served, revoked at the CA */
    make_due(id);
    hello();
    expect("POST", "/order/1", 200, JSON, order_doc("valid", ",\"certificate\":\"" CA "/cert/1\""));
    expect("POST", "/cert/1", 200, CHAIN_TYPE, chain);
    hello();
    expect("POST", "/revoke", 200, NULL, NULL);
    ck_assert_int_eq(cin_agent_run_once(F->st, "test-agent", &s), CIN_OK);
    fake_done();
    ck_assert_int_eq(s.cleanups, 1);
    ck_assert_int_eq(s.revocations_sent, 1);
    ck_assert_int_eq(s.issued, 0);
    ck_assert_ptr_nonnull(strstr(last_to("/revoke")->payload, "\"reason\":5"));
    o = get(id);
    ck_assert_str_eq(o.status, "cancelled");
    ck_assert_int_eq(o.ca_cleanup, 0);
    ck_assert_int_eq(o.cert_id, 0);
    cin_order_clear(&o);
    ck_assert_int_eq(events(id, "certificate.revoke", NULL), 1);
    ck_assert_int_eq(events(id, "certificate.revocation_sent", NULL), 1);
    cert_id = cert_of(id);
    ck_assert_int_eq(notified(cert_id), 1);
    ck_assert_int_eq(cin_store_cert_get(F->st, cert_id, &c), CIN_OK);
    ck_assert_int_gt(cert_id, 0);
    ck_assert_str_eq(c.status, "revoked");
    ck_assert_str_eq(c.revocation_reason, "cessationOfOperation");
    cin_cert_clear(&c);
    ck_assert(!served(NAME, cert_id));
    /* never validated nor finalized after the cancel; nothing more to do */
    ck_assert_int_eq(requests_to(mark, "/order/1/finalize"), 0);
    ck_assert_int_eq(requests_to(mark, "/chall/1"), 0);
    ck_assert_int_eq(requests_to(mark, "/order"), 0);
    agent_pass(F);
    fake_done();
    free(leaf);
    free(chain);
}
END_TEST

START_TEST(cancelled_before_finalize_asks_the_ca_nothing)
{
    char *detail = NULL, *keyauth;
    int64_t id, id2;
    cin_order o;

    account_known();
    id = paid(NAME);
    hello();
    expect("POST", "/order", 201, CREATED, order_doc("pending", NULL));
    expect("POST", "/authz/1", 200, JSON,
           "{\"status\":\"pending\",\"challenges\":[{\"type\":\"http-01\",\"url\":\"" CA
           "/chall/1\",\"token\":\"tok2\",\"status\":\"pending\"}]}");
    expect("POST", "/chall/1", 200, JSON, "{}");
    agent_pass(F);
    fake_done();
    keyauth = key_authorization("tok2");
    ck_assert_ptr_nonnull(keyauth);
    free(keyauth);
    order_action(id, "cancel", NULL);
    make_due(id);
    agent_pass(F); /* no request at all: the script is empty */
    fake_done();
    o = get(id);
    ck_assert_str_eq(o.status, "cancelled");
    ck_assert_int_eq(o.ca_cleanup, 0);
    cin_order_clear(&o);
    ck_assert_int_eq(events(id, "order.ca_cleanup", &detail), 1);
    ck_assert_ptr_nonnull(strstr(detail, "Nothing was issued"));
    free(detail);
    detail = NULL;
    ck_assert_ptr_null(state_of(id));
    keyauth = key_authorization("tok2");
    ck_assert_ptr_null(keyauth); /* the server answers the CA no more */
    /* the built-in CA: issuance is one step, so nothing can be pending */
    ck_assert_int_eq(cin_store_product_set_ca(F->st, "dv-ssl", "builtin", NULL), CIN_OK);
    id2 = paid("acme2.example.com");
    order_action(id2, "cancel", NULL);
    agent_pass(F);
    fake_done();
    o = get(id2);
    ck_assert_int_eq(o.ca_cleanup, 0);
    ck_assert_int_eq(o.cert_id, 0);
    cin_order_clear(&o);
    ck_assert_int_eq(events(id2, "order.ca_cleanup", &detail), 1);
    ck_assert_ptr_nonnull(strstr(detail, "built-in CA"));
    free(detail);
}
END_TEST

START_TEST(retry_after_is_bounded)
{
    acme_http_resp h;
    int64_t id;
    char hdrs[128], date[64];
    time_t past = time(NULL) - 3600;

    memset(&h, 0, sizeof(h));
    ck_assert_int_eq(acme_retry_after(&h, 7), 7); /* not said */
    h.retry_after = -40;
    ck_assert_int_eq(acme_retry_after(&h, 7), 1);
    h.retry_after = 90;
    ck_assert_int_eq(acme_retry_after(&h, 7), 90);
    h.retry_after = 100LL * 365 * 86400;
    ck_assert_int_eq(acme_retry_after(&h, 7), 86400);
    account_known();
    id = paid(NAME);
    hello();
    expect("POST", "/order", 201,
           "Content-Type: application/json\nLocation: " CA "/order/1\nRetry-After: 3153600000",
           order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 0, "-", 86400); /* not a century */
    make_due(id);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&past));
    snprintf(hdrs, sizeof(hdrs), "Content-Type: application/json\nRetry-After: %s", date);
    hello();
    expect("POST", "/order/1", 200, hdrs, order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 0, "-", 1); /* a date past: now, not a busy loop */
    make_due(id);
    hello();
    expect("POST", "/order/1", 503, "Retry-After: 999999999", "");
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 1, "ca_unavailable", 86400);
}
END_TEST

START_TEST(directory_not_usable)
{
    int64_t id;

    id = paid(NAME);
    expect("GET", "/dir", 503, "Retry-After: 12", "busy");
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 1, "ca_unavailable", 12);
    make_due(id);
    expect("GET", "/dir", 200, "Content-Type: text/html", "<html>a web page</html>");
    agent_pass(F);
    fake_done();
    check_order(id, "failed", 1, "ca_error", -1);
}
END_TEST

START_TEST(no_http01_challenge_fails)
{
    int64_t id;

    account_known();
    id = paid(NAME);
    hello();
    expect("POST", "/order", 201, CREATED, order_doc("pending", NULL));
    /* a token that is no base64url would become a path on every server */
    expect("POST", "/authz/1", 200, JSON,
           "{\"status\":\"pending\",\"challenges\":[{\"type\":\"http-01\",\"url\":\"" CA
           "/chall/1\",\"token\":\"../../etc\",\"status\":\"pending\"}]}");
    agent_pass(F);
    fake_done();
    check_order(id, "failed", 0, "ca_error", -1);
    ck_assert_int_eq(count_rows(F, "challenges"), 0);
}
END_TEST

/* ---- tls-alpn-01 (issue 14) ---------------------------------------------------- */

#define ALPN_AUTHZ(extra)                                                                          \
    "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"" NAME "\"}" extra       \
    ",\"challenges\":[{\"type\":\"http-01\",\"url\":\"" CA "/chall/1\",\"token\":\"tok-h\","       \
    "\"status\":\"pending\"},{\"type\":\"tls-alpn-01\",\"url\":\"" CA "/chall/2\","                \
    "\"token\":\"tok-t\",\"status\":\"pending\"}]}"

START_TEST(tls_alpn01_answer_under_the_name)
{
    static const unsigned char only[] = "\x0a"
                                        "acme-tls/1",
                               two[] = "\x0a"
                                       "acme-tls/1\x02h2";
    unsigned char digest[32];
    const ASN1_OCTET_STRING *v;
    char *keyauth, *cert_pem = NULL, *key_pem = NULL;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    ASN1_OBJECT *obj;
    int64_t id;
    int pos;

    ca_set("challenge", "tls-alpn-01");
    account_known();
    id = paid(NAME);
    hello();
    expect("POST", "/order", 201, CREATED, order_doc("pending", NULL));
    expect("POST", "/authz/1", 200, JSON, ALPN_AUTHZ(""));
    expect("POST", "/chall/2", 200, JSON, "{\"type\":\"tls-alpn-01\",\"status\":\"processing\"}");
    agent_pass(F);
    fake_done();
    check_order(id, "processing", 0, "-", 1);
    ck_assert_int_eq(requests_to(0, "/chall/1"), 0); /* http-01 left alone */
    ck_assert_ptr_null(key_authorization("tok-h"));
    /* the answer, under the name, is what every handshake makes its certificate of */
    ck_assert_int_eq(cin_store_challenge_get(F->st, "alpn", NAME, &keyauth), CIN_OK);
    ck_assert_int_eq(strncmp(keyauth, "tok-t.", 6), 0);
    ck_assert_int_eq(cin_tls_challenge_get(F->core, NAME, &x, &k), 1);
    obj = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    pos = X509_get_ext_by_OBJ(x, obj, -1);
    ASN1_OBJECT_free(obj);
    ck_assert_int_ge(pos, 0);
    ck_assert_int_eq(X509_EXTENSION_get_critical(X509_get_ext(x, pos)), 1);
    v = X509_EXTENSION_get_data(X509_get_ext(x, pos));
    SHA256((const unsigned char *)keyauth, strlen(keyauth), digest);
    ck_assert_int_eq(ASN1_STRING_length(v), 34);
    ck_assert_int_eq(memcmp(ASN1_STRING_get0_data(v), "\x04\x20", 2), 0);
    ck_assert_int_eq(memcmp(ASN1_STRING_get0_data(v) + 2, digest, 32), 0);
    ck_assert_int_eq(X509_check_host(x, NAME, 0, 0, NULL), 1);
    ck_assert_int_eq(X509_check_private_key(x, k), 1);
    X509_free(x);
    EVP_PKEY_free(k);
    ck_assert_int_eq(cin_tls_challenge_pem(F->core, NAME, &cert_pem, &key_pem), 1);
    ck_assert_ptr_nonnull(strstr(cert_pem, "BEGIN CERTIFICATE"));
    ck_assert_ptr_nonnull(strstr(key_pem, "PRIVATE KEY"));
    free(cert_pem);
    cin_free_secret(key_pem, strlen(key_pem));
    free(keyauth);
    /* another name has none; only a lone acme-tls/1 offer is a challenge */
    ck_assert_int_eq(cin_tls_challenge_get(F->core, "other.example.com", &x, &k), 0);
    ck_assert_int_eq(cin_tls_alpn_only_acme(only, sizeof(only) - 1), 1);
    ck_assert_int_eq(cin_tls_alpn_only_acme(two, sizeof(two) - 1), 0);
    ck_assert_int_eq(cin_tls_alpn_only_acme(only, 5), 0);
}
END_TEST

START_TEST(tls_alpn01_cannot_prove_a_wildcard)
{
    cin_order o;
    int64_t id;

    ca_set("challenge", "tls-alpn-01");
    account_known();
    id = paid(NAME);
    hello();
    expect("POST", "/order", 201, CREATED, order_doc("pending", NULL));
    expect("POST", "/authz/1", 200, JSON, ALPN_AUTHZ(",\"wildcard\":true"));
    agent_pass(F);
    fake_done();
    check_order(id, "failed", 0, "ca_error", -1);
    o = get(id);
    ck_assert_ptr_nonnull(strstr(o.error_json, "RFC 8737"));
    cin_order_clear(&o);
    ck_assert_int_eq(count_rows(F, "challenges"), 0);
    ck_assert_int_eq(requests_to(0, "/chall/2"), 0);
}
END_TEST

START_TEST(challenge_type_checked_on_add)
{
    cin_ca_config c;
    char *err = NULL;

    memset(&c, 0, sizeof(c));
    c.name = "bad";
    c.kind = "acme";
    c.directory_url = CA "/dir";
    c.challenge = "tls-sni-01";
    ck_assert_int_eq(cin_store_ca_add(F->st, &c, NULL, &err), CIN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "tls-alpn-01"));
    free(err);
    ck_assert_int_eq(count_rows(F, "cas"), 2); /* builtin and fake only */
}
END_TEST

/* ---- profiles and ARI's "replaces" (issue 14) ----------------------------------- */

static void hello_with(const char *meta, const char *top)
{
    char dir[1400], *full;

    snprintf(dir, sizeof(dir), DIRECTORY, meta);
    full = cin_asprintf("{%s%s", top, dir + 1); /* top-level members first */
    expect("GET", "/dir", 200, "Content-Type: application/json", full);
    expect("HEAD", "/nonce", 200, NULL, NULL);
    free(full);
}

START_TEST(profile_asked_for_when_listed)
{
    int64_t id;

    ca_set("profile", "shortlived");
    account_known();
    id = paid(NAME);
    hello_with(",\"profiles\":{\"classic\":\"90 days\",\"shortlived\":\"6 days\"}", "");
    expect("POST", "/order", 201, CREATED,
           order_doc("valid", ",\"certificate\":\"" CA "/cert/9\""));
    expect("POST", "/cert/9", 503, "Retry-After: 5", NULL);
    agent_pass(F);
    fake_done();
    ck_assert_ptr_nonnull(strstr(last_to("/order")->payload, "\"profile\":\"shortlived\""));
    check_order(id, "processing", 1, "ca_unavailable", 5);
}
END_TEST

START_TEST(profile_not_listed_fails_before_any_order)
{
    cin_order o;
    int64_t id;

    ca_set("profile", "tlsserver");
    account_known();
    id = paid(NAME);
    {
        char dir[1400];
        snprintf(dir, sizeof(dir), DIRECTORY, ",\"profiles\":{\"classic\":\"90 days\"}");
        expect("GET", "/dir", 200, "Content-Type: application/json", dir);
    }
    agent_pass(F);
    fake_done();
    check_order(id, "failed", 0, "ca_error", -1);
    o = get(id);
    ck_assert_ptr_nonnull(strstr(o.error_json, "no ACME profile named tlsserver"));
    cin_order_clear(&o);
    ck_assert_int_eq(requests_to(0, "/order"), 0);
}
END_TEST

START_TEST(renewal_replaces_the_certificate)
{
    int64_t cert_id, parent, child;
    char *leaf = NULL, *want, *idtext, path[96], *payload;
    cin_cert c;
    hresp r;

    account_known();
    cert_id = issued(NAME, &leaf);
    idtext = store_query(F, "SELECT max(id) FROM orders");
    parent = strtoll(idtext, NULL, 10);
    free(idtext);
    ck_assert_int_eq(cin_store_cert_get(F->st, cert_id, &c), CIN_OK);
    want = acme_ari_cert_id(c.chain_pem);
    cin_cert_clear(&c);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(strchr(want, '.'));
    ck_assert_ptr_nonnull(strstr(want, "paWlpaWlpaWlpaWlpaWlpaWlpaU")); /* the AKI's A5 bytes */
    snprintf(path, sizeof(path), "/api/v1/orders/R-%06lld/renew", (long long)parent);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 201);
    hresp_free(&r);
    idtext = store_query(F, "SELECT max(id) FROM orders");
    child = strtoll(idtext, NULL, 10);
    free(idtext);
    ck_assert_int_gt(child, parent);
    snprintf(path, sizeof(path), "/api/v1/orders/R-%06lld/pay", (long long)child);
    r = call(F, U_ADMIN, "POST", path, NULL, NULL);
    ck_assert_int_eq(r.status, 200);
    hresp_free(&r);
    hello_with("", "\"renewalInfo\":\"" CA "/ari\",");
    expect("POST", "/order", 201, CREATED, order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    payload = last_to("/order")->payload;
    ck_assert_msg(strstr(payload, want), "%s lacks replaces %s", payload, want);
    ck_assert_ptr_nonnull(strstr(payload, "\"replaces\""));
    free(want);
    free(leaf);
}
END_TEST

/* ---- ARI renewal windows (RFC 9773, issue 14) ----------------------------------- */

/* The directory with renewalInfo, as fetch_window reads it (no nonce: a GET). */
static void ari_directory(void)
{
    char dir[1400], *full;

    snprintf(dir, sizeof(dir), DIRECTORY, "");
    full = cin_asprintf("{\"renewalInfo\":\"" CA "/ari\",%s", dir + 1);
    expect("GET", "/dir", 200, "Content-Type: application/json", full);
    free(full);
}

/* A renewalInfo answer for [now + from, now + to] (a static buffer). */
static const char *window_doc(long from, long to, const char *extra)
{
    static char buf[512];
    char a[21], b[21];

    cin_time_rfc3339(time(NULL) + from, a);
    cin_time_rfc3339(time(NULL) + to, b);
    snprintf(buf, sizeof(buf), "{\"suggestedWindow\":{\"start\":\"%s\",\"end\":\"%s\"}%s}", a, b,
             extra ? extra : "");
    return buf;
}

static char *ari_path(int64_t cert_id)
{
    cin_cert c;
    char *id, *path;

    ck_assert_int_eq(cin_store_cert_get(F->st, cert_id, &c), CIN_OK);
    id = acme_ari_cert_id(c.chain_pem);
    cin_cert_clear(&c);
    ck_assert_ptr_nonnull(id);
    path = cin_asprintf("/ari/%s", id);
    free(id);
    return path;
}

static int64_t order_of_cert(int64_t cert_id)
{
    char sql[96], *q;
    int64_t id;

    snprintf(sql, sizeof(sql), "SELECT order_id FROM certificates WHERE id = %lld",
             (long long)cert_id);
    q = store_query(F, sql);
    id = strtoll(q, NULL, 10);
    free(q);
    return id;
}

START_TEST(ari_window_read_and_planned)
{
    int64_t cert_id, oid, *due = NULL;
    char *leaf = NULL, *path, *q;
    time_t now = time(NULL);
    size_t n = 0, i;
    cin_ari w;
    json_t *j;
    cin_order o;

    account_known();
    cert_id = issued(NAME, &leaf);
    oid = order_of_cert(cert_id);
    path = ari_path(cert_id);
    free(store_query(F, "UPDATE orders SET auto_renew = 1"));
    /* 55 to 57 days: after certinext's own point (60 of 90 days) less a tenth
     * of the lifetime: an ordinary window, planned inside it */
    ari_directory();
    expect("GET", path, 200, "Content-Type: application/json\nRetry-After: 3600",
           window_doc(55 * 86400L, 57 * 86400L, ",\"explanationURL\":\"https://ca.test/why\""));
    ck_assert_int_eq(cin_ari_work(F->st, "test"), 1);
    fake_done();
    ck_assert_int_eq(cin_store_cert_ari_get(F->st, cert_id, &w), CIN_OK);
    ck_assert_int_ge(w.planned, w.start);
    ck_assert_int_le(w.planned, w.end);
    ck_assert_int_ge(w.start, now + 55 * 86400L - 5);
    ck_assert_int_ge(w.next_check, now + 3600 - 5); /* Retry-After honoured */
    ck_assert_int_le(w.next_check, time(NULL) + 3600);
    ck_assert_str_eq(w.explanation, "https://ca.test/why");
    ck_assert_int_eq(w.moved, 0);
    cin_ari_clear(&w);
    /* not asked again before then */
    ck_assert_int_eq(cin_ari_work(F->st, "test"), 0);
    fake_done();
    /* shown with the certificate */
    o = get(oid);
    j = cin_order_json(F->st, NULL, &o);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(j, "certificate"), "renewal_window"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(j, "certificate"), "renewal_window"),
                         "explanation_url")),
                     "https://ca.test/why");
    json_decref(j);
    cin_order_clear(&o);
    /* not due for renewal before the time picked */
    ck_assert_int_eq(cin_store_order_renewal_due(F->st, time(NULL), 1.0 / 3.0, &due, &n), CIN_OK);
    for (i = 0; i < n; i++)
        ck_assert_int_ne(due[i], oid);
    free(due);
    /* asked again, the window is open already and still holds the time
     * planned: renewal due at once, an ordinary (charged) one */
    free(store_query(F, "UPDATE cert_ari SET next_check = 0"));
    ari_directory();
    expect("GET", path, 200, "Content-Type: application/json",
           window_doc(-3600, 58 * 86400L, NULL));
    ck_assert_int_eq(cin_ari_work(F->st, "test"), 1);
    fake_done();
    ck_assert_int_eq(cin_store_order_renewal_due(F->st, time(NULL), 1.0 / 3.0, &due, &n), CIN_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(due[0], oid);
    free(due);
    q = store_query(F, "SELECT count(*) FROM orders WHERE kind = 'reissue'");
    ck_assert_str_eq(q, "0\n");
    free(q);
    free(path);
    free(leaf);
}
END_TEST

START_TEST(ari_window_moved_earlier_is_a_free_reissue)
{
    int64_t cert_id, oid, child, *due = NULL;
    char *leaf = NULL, *path, *q, *want, *detail = NULL;
    size_t n = 0;
    cin_ari w;
    cin_cert c;

    account_known();
    cert_id = issued(NAME, &leaf);
    oid = order_of_cert(cert_id);
    path = ari_path(cert_id);
    free(store_query(F, "UPDATE orders SET auto_renew = 1"));
    ari_directory();
    expect("GET", path, 200, "Content-Type: application/json",
           window_doc(55 * 86400L, 57 * 86400L, NULL));
    ck_assert_int_eq(cin_ari_work(F->st, "test"), 1);
    fake_done();
    /* the CA moves the window to now (a mass revocation): replaced at once, free */
    free(store_query(F, "UPDATE cert_ari SET next_check = 0"));
    ari_directory();
    expect("GET", path, 200, "Content-Type: application/json",
           window_doc(-7200, -3600, ",\"explanationURL\":\"https://ca.test/incident\""));
    ck_assert_int_eq(cin_ari_work(F->st, "test"), 1);
    fake_done();
    ck_assert_int_eq(cin_store_cert_ari_get(F->st, cert_id, &w), CIN_OK);
    ck_assert_int_eq(w.moved, 1);
    cin_ari_clear(&w);
    q = store_query(F, "SELECT id, kind, price, status FROM orders WHERE kind = 'reissue'");
    child = strtoll(q, NULL, 10);
    ck_assert_ptr_nonnull(strstr(q, "|reissue|0|processing"));
    free(q);
    ck_assert_int_eq(events(oid, "order.ari_reissue", &detail), 1);
    ck_assert_ptr_nonnull(strstr(detail, "renewal window"));
    free(detail);
    /* no charged renewal as well */
    ck_assert_int_eq(cin_store_order_renewal_due(F->st, time(NULL), 1.0 / 3.0, &due, &n), CIN_OK);
    ck_assert_int_eq(n, 0);
    free(due);
    /* the reissue's order names the certificate it replaces */
    ck_assert_int_eq(cin_store_cert_get(F->st, cert_id, &c), CIN_OK);
    want = acme_ari_cert_id(c.chain_pem);
    cin_cert_clear(&c);
    hello_with("", "\"renewalInfo\":\"" CA "/ari\",");
    expect("POST", "/order", 201, CREATED, order_doc("processing", NULL));
    agent_pass(F);
    fake_done();
    ck_assert_ptr_nonnull(strstr(last_to("/order")->payload, want));
    ck_assert_int_gt(child, oid);
    /* the reissue ends without replacing it: planned afresh at the next answer */
    free(store_query(F, "UPDATE orders SET status = 'cancelled' WHERE kind = 'reissue'"));
    free(store_query(F, "UPDATE cert_ari SET next_check = 0"));
    ari_directory();
    expect("GET", path, 200, "Content-Type: application/json",
           window_doc(55 * 86400L, 57 * 86400L, NULL));
    ck_assert_int_eq(cin_ari_work(F->st, "test"), 1);
    fake_done();
    ck_assert_int_eq(cin_store_cert_ari_get(F->st, cert_id, &w), CIN_OK);
    ck_assert_int_eq(w.moved, 0);
    ck_assert_int_ge(w.planned, w.start);
    cin_ari_clear(&w);
    free(want);
    free(path);
    free(leaf);
}
END_TEST

START_TEST(ari_errors_and_cas_without_it)
{
    int64_t cert_id;
    char *leaf = NULL, *path, *q;
    time_t now = time(NULL);
    cin_ari w;

    account_known();
    cert_id = issued(NAME, &leaf);
    path = ari_path(cert_id);
    /* 503 with Retry-After: asked again then, nothing planned */
    ari_directory();
    expect("GET", path, 503, "Retry-After: 120", NULL);
    ck_assert_int_eq(cin_ari_work(F->st, "test"), 0);
    fake_done();
    ck_assert_int_eq(cin_store_cert_ari_get(F->st, cert_id, &w), CIN_ENOTFOUND);
    q = store_query(F, "SELECT next_check - checked_at, planned_at FROM cert_ari");
    ck_assert_str_eq(q, "120|0\n");
    free(q);
    /* a window that makes no sense: end before start */
    free(store_query(F, "UPDATE cert_ari SET next_check = 0"));
    ari_directory();
    expect("GET", path, 200, "Content-Type: application/json", window_doc(86400, 3600, NULL));
    ck_assert_int_eq(cin_ari_work(F->st, "test"), 0);
    fake_done();
    ck_assert_int_eq(cin_store_cert_ari_get(F->st, cert_id, &w), CIN_ENOTFOUND);
    /* a CA without renewalInfo: only its directory, and again in a day */
    free(store_query(F, "UPDATE cert_ari SET next_check = 0"));
    {
        char dir[1024];
        snprintf(dir, sizeof(dir), DIRECTORY, "");
        expect("GET", "/dir", 200, "Content-Type: application/json", dir);
    }
    ck_assert_int_eq(cin_ari_work(F->st, "test"), 0);
    fake_done();
    q = store_query(F, "SELECT next_check FROM cert_ari");
    ck_assert_int_ge(strtoll(q, NULL, 10), now + 86400 - 5);
    free(q);
    ck_assert_int_eq(requests_to(0, path), 2);
    free(path);
    free(leaf);
}
END_TEST

/* ---- the order's lease (agents on several hosts) ------------------------------ */

/* The agent's clock, moved by the tests (a store opened with it). */
static time_t clock_now;

static time_t test_clock(void *ud)
{
    (void)ud;
    return clock_now;
}

static void no_log(void *ud, int level, const char *msg)
{
    (void)ud;
    (void)level;
    (void)msg;
}

static void lease_ttl(const char *v)
{
    ck_assert_int_eq(cin_store_setting_set(F->st, "lease_ttl", v), CIN_OK);
}

/* One agent pass on a store whose clock the test moves. */
static void clocked_pass(void)
{
    static const cin_services svc = {no_log, test_clock, NULL};
    cin_store_opts o = {F->key_path, NULL, 1, 0, -1};
    cin_agent_stats s;
    cin_store *st = NULL;
    char holder[160];

    ck_assert_int_eq(cin_store_open_opts(F->path, &svc, &o, &st, NULL), CIN_OK);
    cin_agent_holder(cin_core_host_id(F->core), holder, sizeof(holder));
    ck_assert_int_eq(cin_agent_run_once(st, holder, &s), CIN_OK);
    cin_store_close(st);
}

static char *lease_row(void)
{
    return store_query(F, "SELECT holder, expires_at FROM leases");
}

static void time_passes(void)
{
    clock_now += 11; /* more than a third of the 30 s lease */
}

static void lease_renewed(void)
{
    char *row = lease_row(), want[64];

    /* still this agent's, renewed before this request went out: 30 s from
     * the moved clock */
    snprintf(want, sizeof(want), "|%lld\n", (long long)clock_now + 30);
    ck_assert_msg(strstr(row, want) != NULL, "lease %s, not ...%s", row, want);
    ck_assert_int_eq(strncmp(row, cin_core_host_id(F->core), strlen(cin_core_host_id(F->core))), 0);
    free(row);
}

static void another_host_takes_over(void)
{
    char q[160];

    snprintf(q, sizeof(q), "UPDATE leases SET holder = 'elsewhere:1:1', expires_at = %lld",
             (long long)clock_now + 600);
    free(store_query(F, q));
}

static void taken_over_and_time_passes(void)
{
    another_host_takes_over();
    time_passes();
}

START_TEST(lease_renewed_while_the_agent_works)
{
    int64_t id;
    char *row;

    account_known();
    lease_ttl("30");
    ck_assert_int_eq(cin_agent_lease_ttl(F->st), 30);
    id = paid(NAME);
    clock_now = time(NULL);
    hello();
    on_arrival(time_passes);
    expect("POST", "/order", 503, PROBLEM, problem_doc("serverInternal", "busy"));
    on_arrival(lease_renewed);
    clocked_pass();
    fake_done();
    /* the outcome was recorded under the lease, which is then given back */
    check_order(id, "processing", 1, "ca_unavailable", -1);
    row = lease_row();
    ck_assert_str_eq(row, "");
    free(row);
    /* out-of-range settings fall back to the default */
    lease_ttl("2");
    ck_assert_int_eq(cin_agent_lease_ttl(F->st), CIN_AGENT_LEASE_TTL);
    lease_ttl("60s");
    ck_assert_int_eq(cin_agent_lease_ttl(F->st), CIN_AGENT_LEASE_TTL);
}
END_TEST

/* Another host took the order over (this agent stalled past its lease): the
 * next exchange notices, stops, and nothing this agent did is recorded. */
START_TEST(lease_taken_over_stops_the_agent)
{
    int64_t id;
    char *row;

    account_known();
    lease_ttl("30");
    id = paid(NAME);
    clock_now = time(NULL);
    hello();
    on_arrival(taken_over_and_time_passes);
    clocked_pass();
    fake_done(); /* no new order was asked for */
    check_order(id, "processing", 0, "-", -1);
    ck_assert_int_eq(events(id, "order.retry_later", NULL), 0);
    row = lease_row();
    ck_assert_ptr_nonnull(strstr(row, "elsewhere:1:1|"));
    free(row);
}
END_TEST

/* Fencing: the certificate arrives after another host took the lease over;
 * the transaction that would store it finds the lease gone and drops it. */
START_TEST(certificate_after_losing_the_lease_is_dropped)
{
    char *leaf = make_cert(NAME, "Test Intermediate"), *chain = make_chain(leaf, "Test Root");
    int64_t id;
    char *row;

    account_known();
    id = paid(NAME);
    clock_now = time(NULL);
    hello();
    expect("POST", "/order", 201, CREATED,
           order_doc("valid", ",\"certificate\":\"" CA "/cert/1\""));
    expect("POST", "/cert/1", 200, CHAIN_TYPE, chain);
    on_arrival(another_host_takes_over);
    clocked_pass();
    fake_done();
    check_order(id, "processing", 0, "-", -1);
    ck_assert_int_eq(count_rows(F, "certificates"), 0);
    ck_assert_int_eq(events(id, "order.issued", NULL), 0);
    row = lease_row();
    ck_assert_ptr_nonnull(strstr(row, "elsewhere:1:1|"));
    free(row);
    free(leaf);
    free(chain);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("acme");
    TCase *tc = tcase_create("acme");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, issues_through_every_step);
    tcase_add_test(tc, external_account_binding);
    tcase_add_test(tc, external_account_binding_missing);
    tcase_add_test(tc, account_gone_is_registered_again);
    tcase_add_test(tc, order_gone_starts_afresh);
    tcase_add_test(tc, invalid_challenge_fails_with_the_cas_problem);
    tcase_add_test(tc, server_errors_and_rate_limits_are_transient);
    tcase_add_test(tc, bad_nonce_retried_then_transient);
    tcase_add_test(tc, preferred_alternate_chain);
    tcase_add_test(tc, revocation_reaches_the_ca);
    tcase_add_test(tc, cancelled_after_finalize_is_fetched_and_revoked);
    tcase_add_test(tc, cancelled_before_finalize_asks_the_ca_nothing);
    tcase_add_test(tc, retry_after_is_bounded);
    tcase_add_test(tc, directory_not_usable);
    tcase_add_test(tc, no_http01_challenge_fails);
    tcase_add_test(tc, tls_alpn01_answer_under_the_name);
    tcase_add_test(tc, tls_alpn01_cannot_prove_a_wildcard);
    tcase_add_test(tc, challenge_type_checked_on_add);
    tcase_add_test(tc, profile_asked_for_when_listed);
    tcase_add_test(tc, profile_not_listed_fails_before_any_order);
    tcase_add_test(tc, renewal_replaces_the_certificate);
    tcase_add_test(tc, ari_window_read_and_planned);
    tcase_add_test(tc, ari_window_moved_earlier_is_a_free_reissue);
    tcase_add_test(tc, ari_errors_and_cas_without_it);
    tcase_add_test(tc, challenge_waits_for_every_live_host);
    tcase_add_test(tc, lease_renewed_while_the_agent_works);
    tcase_add_test(tc, lease_taken_over_stops_the_agent);
    tcase_add_test(tc, certificate_after_losing_the_lease_is_dropped);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
