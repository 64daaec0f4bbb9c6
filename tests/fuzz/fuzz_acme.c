/*
 * fuzz_acme.c - the ACME connector (common/src/acme*.c) reading a CA's
 * answers, through the whole client.
 *
 * The connector's HTTP implementation is replaced (acme_http_use) by a fake
 * CA that answers every request from a small set of good canned answers,
 * except one: the fuzz input, the CA's answer to one step of an exchange:
 *   directory, new nonce, new account, new order, order (submit/poll),
 *   authorization, challenge, finalize, certificate, alternate chain,
 *   revocation, or the order read by a cancelled order's clean-up.
 * The connector runs once for each step the input looks like an answer to
 * (a body with "challenges" is an authorization's...: a committed input
 * replays where it belongs) and once for a step chosen by the input's hash
 * (every step sees every kind of input).  A whole run per step costs about
 * a millisecond and a half, most of it OpenSSL 3 decoding the account key,
 * hence not all twelve each time.  So an input reaches the parsers of
 * directories, orders, authorizations, challenges, problem documents, Link
 * headers, Retry-After and chains as the connector reads them, and what the
 * connector does next.  The answer is also read on its own
 * (acme_resp_problem, acme_from_response, acme_resp_alternates,
 * acme_retry_after).
 *
 * Checks besides the sanitizers: every outcome is one of the four, with what
 * it promises (a chain, a bounded retry_after, a problem that is an RFC 7807
 * object with a type); 5xx and 429 are transient; a clean-up never answers a
 * challenge, finalizes, registers or orders; one call makes a bounded number
 * of requests (badNonce is not retried forever).
 *
 * The store is made once per process in $TMPDIR (an account, an order with a
 * CSR, the CA configuration) and made afresh every CIN_FUZZ_RESET_EVERY
 * inputs (default 500).  The connector's sources are included (as h2o's
 * t/00unit/ tests include what they test) for the static helpers; the link
 * takes nothing from libcertinext.a's acme*.o, this file defines their
 * symbols.
 *
 * Input, an HTTP answer as the CA sends it:
 *   STATUS\n            decimal, e.g. 201
 *   Name: value\n       header lines, up to an empty line
 *   \n
 *   body                bytes
 */
#include "fuzz_util.h"

#include "../../common/src/acme.c"
#include "../../common/src/acme_account.c"
#include "../../common/src/acme_finalize.c"
#include "../../common/src/acme_http.c"
#include "../../common/src/acme_order.c"

#include <ftw.h>
#include <strings.h>

#include <openssl/x509v3.h>

#include "cin_store_order.h"
#include "cin_util.h"

#define CA        "https://ca.test"
#define MAX_CALLS 64 /* requests one connector call may make */

enum step {
    S_DIRECTORY,
    S_NONCE,
    S_ACCOUNT,
    S_NEW_ORDER,
    S_ORDER,
    S_AUTHZ,
    S_CHALLENGE,
    S_FINALIZE,
    S_CERT,
    S_ALTERNATE,
    S_REVOKE,
    S_CLEANUP,
    S_COUNT
};

/* The method and URL of each step's request (S_CLEANUP reads the order). */
static const char *const step_req[S_COUNT][2] = {
    {"GET", CA "/dir"},         {"HEAD", CA "/nonce"},       {"POST", CA "/acct"},
    {"POST", CA "/order"},      {"POST", CA "/order/1"},     {"POST", CA "/authz/1"},
    {"POST", CA "/chall/1"},    {"POST", CA "/order/1/fin"}, {"POST", CA "/cert/1"},
    {"POST", CA "/cert/1/alt"}, {"POST", CA "/revoke"},      {"POST", CA "/order/1"},
};

/* The fuzz input, parsed once. */
typedef struct answer {
    long status;
    char *headers[32]; /* "Name: value" */
    int nheaders;
    const uint8_t *body;
    size_t len;
} answer;

static struct {
    char *dir, *path;
    cin_store *st;
    cin_order order; /* the order the connector works on */
    cin_cert cert;   /* a certificate to revoke */
    char *chain, *alt_chain;
    unsigned long runs, reset_every;
    /* the current call */
    enum step step;
    const answer *in;
    const char *order_status; /* what the canned order says */
    int calls, forbidden;
} W;

static void quiet_log(void *ud, int level, const char *msg)
{
    (void)ud;
    if (level <= CIN_LOG_ERROR && getenv("CIN_FUZZ_VERBOSE"))
        fprintf(stderr, "log: %s\n", msg);
}

static const cin_services svc = {quiet_log, NULL, NULL};

/* ---- reading the input the way libcurl reads an answer --------------------- */

/* curl_easy_header: the value without the whitespace around it. */
static const char *header(const answer *in, const char *name, int idx)
{
    size_t nl = strlen(name);
    int i;

    for (i = 0; i < in->nheaders; i++) {
        const char *h = in->headers[i];
        if (strncasecmp(h, name, nl) || h[nl] != ':' || idx-- > 0)
            continue;
        h += nl + 1;
        return h + strspn(h, " \t");
    }
    return NULL;
}

static char *value_dup(const char *v)
{
    size_t n = strlen(v);

    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return strndup(v, n);
}

/* CURLINFO_RETRY_AFTER: delay-seconds, else an HTTP date as seconds from now
 * (curl_getdate is libcurl's own date parser), 0 when neither. */
static long long retry_after_of(const char *v)
{
    long long n = 0;
    time_t t;

    if (!v)
        return 0;
    if (*v >= '0' && *v <= '9')
        n = strtoll(v, NULL, 10);
    if (n)
        return n;
    t = curl_getdate(v, NULL);
    return t == -1 ? 0 : (long long)(t - time(NULL));
}

static void fill(const answer *in, acme_http_resp *h, int with_body)
{
    const char *v;
    int i;

    h->status = in->status;
    if ((v = header(in, "Location", 0)))
        h->location = value_dup(v);
    if ((v = header(in, "Replay-Nonce", 0)))
        h->nonce = value_dup(v);
    if ((v = header(in, "Content-Type", 0)))
        h->ctype = value_dup(v);
    for (i = 0; h->nlinks < ACME_MAX_LINKS && (v = header(in, "Link", i)); i++)
        h->links[h->nlinks++] = value_dup(v);
    h->retry_after = retry_after_of(header(in, "Retry-After", 0));
    if (with_body && in->len) {
        h->body = malloc(in->len + 1);
        FUZZ_CHECK(h->body);
        memcpy(h->body, in->body, in->len);
        h->body[in->len] = '\0';
        h->len = in->len;
    }
}

/* ---- the fake CA ----------------------------------------------------------- */

static void canned(acme_http_resp *h, long status, const char *location, const char *body)
{
    static unsigned long nonce;

    h->status = status;
    h->nonce = cin_asprintf("n%lu", ++nonce);
    h->location = location ? strdup(location) : NULL;
    if (body) {
        h->body = strdup(body);
        h->len = strlen(body);
    }
}

static char *order_doc(const char *status)
{
    return cin_asprintf("{\"status\":\"%s\",\"identifiers\":[{\"type\":\"dns\",\"value\":"
                        "\"fuzz.example.com\"}],\"authorizations\":[\"" CA "/authz/1\"],"
                        "\"finalize\":\"" CA "/order/1/fin\",\"certificate\":\"" CA "/cert/1\"}",
                        status);
}

/* The good answer to a request the input does not answer. */
static void answer_well(const char *method, const char *url, acme_http_resp *h)
{
    char *doc;

    if (!strcmp(url, CA "/dir")) {
        canned(h, 200, NULL,
               "{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA
               "/order\",\"revokeCert\":\"" CA "/revoke\"}");
    } else if (!strcmp(url, CA "/nonce") || !strcmp(url, CA "/chall/1") ||
               !strcmp(url, CA "/revoke")) {
        canned(h, 200, NULL, strcmp(method, "HEAD") ? "{}" : NULL);
    } else if (!strcmp(url, CA "/acct")) {
        canned(h, 201, CA "/acct/1", "{\"status\":\"valid\"}");
    } else if (!strcmp(url, CA "/order") || !strcmp(url, CA "/order/1") ||
               !strcmp(url, CA "/order/1/fin")) {
        doc = order_doc(!strcmp(url, CA "/order/1/fin") ? "processing" : W.order_status);
        canned(h, !strcmp(url, CA "/order") ? 201 : 200, CA "/order/1", doc);
        free(doc);
    } else if (!strcmp(url, CA "/authz/1")) {
        canned(h, 200, NULL,
               "{\"status\":\"pending\",\"challenges\":[{\"type\":\"http-01\",\"url\":\"" CA
               "/chall/1\",\"token\":\"fuzz-token\",\"status\":\"pending\"}]}");
    } else if (!strcmp(url, CA "/cert/1")) {
        canned(h, 200, NULL, W.chain);
        h->links[h->nlinks++] = strdup("<" CA "/cert/1/alt>;rel=\"alternate\"");
    } else if (!strcmp(url, CA "/cert/1/alt")) {
        canned(h, 200, NULL, W.alt_chain);
    } else {
        canned(h, 404, NULL, "{\"type\":\"urn:ietf:params:acme:error:malformed\"}");
    }
}

/* A clean-up only looks: never a challenge, a finalize, an account or an order. */
static int forbidden_in_cleanup(const char *url)
{
    return !strcmp(url, CA "/chall/1") || !strcmp(url, CA "/order/1/fin") ||
           !strcmp(url, CA "/acct") || !strcmp(url, CA "/order");
}

static int fake_request(void *client, const char *method, const char *url,
                        const char *const *headers, const char *body, acme_http_resp *h, char *err,
                        size_t errlen)
{
    (void)client;
    (void)headers;
    (void)body;
    (void)err;
    (void)errlen;
    memset(h, 0, sizeof(*h));
    FUZZ_CHECK(++W.calls <= MAX_CALLS);
    if (W.step == S_CLEANUP && forbidden_in_cleanup(url))
        W.forbidden++;
    if (!strcmp(method, step_req[W.step][0]) && !strcmp(url, step_req[W.step][1]))
        fill(W.in, h, strcmp(method, "HEAD") != 0);
    else
        answer_well(method, url, h);
    return CIN_OK;
}

static void *fake_open(const char *trust_pem)
{
    (void)trust_pem;
    return &W;
}

static void fake_close(void *client)
{
    (void)client;
}

static const acme_http_ops fake_ops = {fake_open, fake_request, fake_close};

/* ---- the store --------------------------------------------------------------- */

static void must(int rc, const char *what)
{
    if (rc != CIN_OK) {
        fprintf(stderr, "fuzz_acme: %s: %s\n", what, cin_strstatus(rc));
        abort();
    }
}

/* A certificate issued by issuer_cn (names only matter here). */
static char *make_cert(const char *cn, const char *issuer_cn)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *iss = X509_NAME_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *pem;
    long len;

    FUZZ_CHECK(key && x && iss && b);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_set_version(x, 2);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(iss, "CN", MBSTRING_UTF8, (const unsigned char *)issuer_cn, -1, -1,
                               0);
    X509_set_issuer_name(x, iss);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 90 * 86400L);
    X509_set_pubkey(x, key);
    FUZZ_CHECK(X509_sign(x, key, EVP_sha256()) > 0 && PEM_write_bio_X509(b, x));
    len = BIO_get_mem_data(b, &data);
    pem = strndup(data, (size_t)len);
    BIO_free(b);
    X509_NAME_free(iss);
    X509_free(x);
    EVP_PKEY_free(key);
    return pem;
}

static void add_order(void)
{
    static char *sans[] = {"fuzz.example.com"};
    char *key = NULL, *err = NULL;
    int64_t account = 0, user = 0;
    cin_ca_config c;

    memset(&c, 0, sizeof(c));
    c.name = "fuzz";
    c.kind = "acme";
    c.directory_url = CA "/dir";
    c.preferred_chain = "Fuzz Preferred Root";
    must(cin_store_ca_add(W.st, &c, NULL, &err), "CA");
    must(cin_key_generate("ec-p256", &key), "key");
    memset(&W.order, 0, sizeof(W.order));
    must(cin_csr_build(key, sans, 1, &W.order.csr_pem), "CSR");
    cin_free_secret(key, strlen(key));
    must(cin_store_begin(W.st), "begin");
    must(cin_store_account_create(W.st, "fuzz", 0, &account, &err), "account");
    must(cin_store_user_create(W.st, account, "fuzz", "admin", 0, NULL, &user, &err), "user");
    W.order.account_id = account;
    W.order.requester_id = user;
    W.order.status = strdup("processing");
    W.order.product = strdup("dv-ssl");
    W.order.common_name = strdup(sans[0]);
    W.order.sans = malloc(sizeof(char *));
    W.order.sans[0] = strdup(sans[0]);
    W.order.nsans = 1;
    W.order.key_source = strdup("csr");
    W.order.validity_days = 90;
    must(cin_store_order_insert(W.st, &W.order), "order");
    must(cin_store_commit(W.st), "commit");
    free(err);
}

static void world_new(void)
{
    const char *tmp = getenv("TMPDIR");
    char *err = NULL, *leaf;

    W.dir = cin_asprintf("%s/fuzz-acme-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(W.dir));
    W.path = cin_asprintf("%s/store.db", W.dir);
    must(cin_store_create(W.path, &svc, &W.st, &err), "store");
    add_order();
    leaf = make_cert("fuzz.example.com", "Fuzz Test Intermediate");
    W.chain = cin_asprintf("%s%s", leaf, leaf);
    W.alt_chain = make_cert("Fuzz Alternate Intermediate", "Fuzz Preferred Root");
    memset(&W.cert, 0, sizeof(W.cert));
    W.cert.serial = strdup("1092");
    W.cert.chain_pem = leaf;
    acme_http_use(&fake_ops);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void world_free(void)
{
    if (!W.st)
        return;
    acme_http_use(NULL);
    cin_store_close(W.st);
    W.st = NULL;
    nftw(W.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    free(W.dir);
    free(W.path);
    free(W.chain);
    free(W.alt_chain);
    cin_order_clear(&W.order);
    cin_cert_clear(&W.cert);
}

/* Each step starts from the same place: the account known, the order at the
 * CA (or not yet), processing. */
static void prepare(enum step s)
{
    json_t *state = NULL;

    must(cin_store_begin(W.st), "begin");
    must(cin_store_ca_set(W.st, "fuzz", "account_url", s == S_ACCOUNT ? NULL : CA "/acct/1"),
         "account");
    must(cin_store_end(W.st, CIN_OK), "commit");
    if (s >= S_ORDER && s != S_REVOKE)
        state = json_pack("{s:s, s:[], s:b}", "order_url", CA "/order/1", "names", "finalized",
                          s == S_CLEANUP);
    must(acme_state_save(W.st, "fuzz", W.order.id, state), "state");
    json_decref(state);
    W.order_status = s == S_FINALIZE                                     ? "ready"
                     : s == S_CERT || s == S_ALTERNATE || s == S_CLEANUP ? "valid"
                                                                         : "pending";
    W.step = s;
    W.calls = 0;
    W.forbidden = 0;
}

/* ---- checks -------------------------------------------------------------------- */

/* A problem as the order's error keeps it: an RFC 7807 object with a type. */
static void check_problem(const cin_problem *p)
{
    char *text = cin_problem_json(p);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;

    FUZZ_CHECK(json_is_object(j));
    FUZZ_CHECK(json_is_string(json_object_get(j, "type")));
    FUZZ_CHECK(p->status >= 400 && p->status <= 599);
    json_decref(j);
    free(text);
}

static void check_result(const cin_ca_result *r, int revoking)
{
    switch (r->outcome) {
    case CIN_CA_DONE:
        FUZZ_CHECK(revoking ? r->chain_pem == NULL
                            : r->chain_pem && strstr(r->chain_pem, "-----BEGIN CERTIFICATE-----"));
        break;
    case CIN_CA_PENDING:
        FUZZ_CHECK(r->retry_after >= 1 && r->retry_after <= ACME_RETRY_AFTER_MAX);
        break;
    case CIN_CA_TRANSIENT:
        FUZZ_CHECK(r->retry_after >= 0 && r->retry_after <= ACME_RETRY_AFTER_MAX);
        check_problem(&r->problem);
        break;
    case CIN_CA_FAILED:
        check_problem(&r->problem);
        break;
    default:
        FUZZ_CHECK(!"an outcome that is none of the four");
    }
}

static void run_step(enum step s)
{
    cin_ca_result r;

    prepare(s);
    memset(&r, 0, sizeof(r));
    if (s == S_REVOKE)
        cin_ca_acme_ops.revoke(W.st, "fuzz", &W.cert, "keyCompromise", &r);
    else if (s == S_CLEANUP)
        cin_ca_acme_ops.cleanup(W.st, "fuzz", &W.order, &r);
    else
        cin_ca_acme_ops.submit(W.st, "fuzz", &W.order, &r);
    check_result(&r, s == S_REVOKE);
    FUZZ_CHECK(W.forbidden == 0);
    cin_ca_result_clear(&r);
}

static int body_has(const answer *in, const char *needle)
{
    return memmem(in->body, in->len, needle, strlen(needle)) != NULL;
}

/* The steps this input looks like an answer to, and one by its hash. */
static unsigned steps_for(const answer *in, const uint8_t *data, size_t size)
{
    unsigned m = 0, hash = 2166136261u;
    size_t i;

    if (body_has(in, "\"newNonce\"") || body_has(in, "\"newOrder\""))
        m |= 1u << S_DIRECTORY;
    if (in->len == 0)
        m |= 1u << S_NONCE;
    if (body_has(in, "\"orders\"") || body_has(in, "\"contact\""))
        m |= 1u << S_ACCOUNT;
    if (body_has(in, "\"finalize\"") || body_has(in, "\"authorizations\""))
        m |= in->status == 201 ? 1u << S_NEW_ORDER
                               : 1u << S_ORDER | 1u << S_FINALIZE | 1u << S_CLEANUP;
    if (body_has(in, "\"challenges\""))
        m |= 1u << S_AUTHZ;
    else if (body_has(in, "\"token\""))
        m |= 1u << S_CHALLENGE;
    if (body_has(in, "-----BEGIN CERTIFICATE-----"))
        m |= 1u << S_CERT | 1u << S_ALTERNATE;
    if (body_has(in, "urn:ietf:params:acme:error:"))
        m |= 1u << S_REVOKE;
    for (i = 0; i < size; i++)
        hash = (hash ^ data[i]) * 16777619u; /* FNV-1a */
    return m | 1u << (hash % S_COUNT);
}

/* The answer read on its own, as every step reads it. */
static void read_alone(const answer *in)
{
    char type[64], *urls[ACME_MAX_LINKS];
    acme_http_resp h;
    cin_ca_result r;
    int i, n, ra;

    memset(&h, 0, sizeof(h));
    memset(&r, 0, sizeof(r));
    fill(in, &h, 1);
    acme_resp_problem(&h, type, sizeof(type));
    FUZZ_CHECK(strlen(type) < sizeof(type));
    acme_from_response(&h, "fuzz", &r);
    FUZZ_CHECK(r.outcome ==
               (h.status >= 500 || h.status == 429 ? CIN_CA_TRANSIENT : CIN_CA_FAILED));
    check_problem(&r.problem);
    cin_ca_result_clear(&r);
    n = acme_resp_alternates(&h, urls, ACME_MAX_LINKS);
    FUZZ_CHECK(n >= 0 && n <= ACME_MAX_LINKS);
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(urls[i][0] && !strchr(urls[i], '>'));
        free(urls[i]);
    }
    ra = acme_retry_after(&h, 0);
    FUZZ_CHECK(h.retry_after ? ra >= 1 && ra <= ACME_RETRY_AFTER_MAX : ra == 0);
    acme_resp_clear(&h);
}

/* STATUS\n, header lines, \n, body. */
static void parse(const uint8_t *data, size_t size, answer *in)
{
    const uint8_t *p = data, *end = data + size, *nl;
    char *status;

    memset(in, 0, sizeof(*in));
    nl = memchr(p, '\n', (size_t)(end - p));
    status = fuzz_cstring(p, nl ? (size_t)(nl - p) : (size_t)(end - p));
    in->status = strtol(status, NULL, 10) % 1000;
    free(status);
    p = nl ? nl + 1 : end;
    while (p < end) {
        const uint8_t *line = p;
        size_t len;
        nl = memchr(p, '\n', (size_t)(end - p));
        len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        p = nl ? nl + 1 : end;
        if (len && line[len - 1] == '\r')
            len--;
        if (len == 0)
            break;
        if (in->nheaders < 32)
            in->headers[in->nheaders++] = fuzz_cstring(line, len);
    }
    in->body = p;
    in->len = (size_t)(end - p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *every = getenv("CIN_FUZZ_RESET_EVERY");

    (void)argc;
    (void)argv;
    fuzz_forbid_passphrase_prompts();
    W.reset_every = every && atol(every) > 0 ? (unsigned long)atol(every) : 500;
    world_new();
    atexit(world_free);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned steps;
    answer in;
    int i;

    if (W.runs && W.runs % W.reset_every == 0) {
        world_free();
        world_new();
    }
    W.runs++;
    parse(data, size, &in);
    read_alone(&in);
    W.in = &in;
    steps = steps_for(&in, data, size);
    for (i = 0; i < S_COUNT; i++)
        if (steps & 1u << i)
            run_step((enum step)i);
    for (i = 0; i < in.nheaders; i++)
        free(in.headers[i]);
    return 0;
}
