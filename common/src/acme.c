/*
 * acme.c - the ACME (RFC 8555) CA connector, on libcurl and OpenSSL.
 *
 * One call advances an order as far as it can without waiting: account
 * (with External Account Binding when the CA requires it), newOrder,
 * http-01 authorizations (the key authorizations go into the store, where
 * both server modules answer them), finalize with the order's CSR, and the
 * certificate download.  Every step's result is kept in the store
 * (acme_orders), so a crash or restart resumes the same ACME order instead
 * of creating a second one.  When the CA has forgotten the order or the
 * account (a reset CA, as pebble is after a restart), they are made afresh.
 *
 * Outcomes: the CA unreachable, a 5xx or a 429 are transient (retried later,
 * with the CA's Retry-After); a problem document on a 4xx is permanent and
 * kept as the order's error; badNonce is retried with the fresh nonce.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/pem.h>

#include "acme_int.h"
#include "cin_ca.h"
#include "cin_store_ca.h"
#include "cin_util.h"
#include "cin_x509.h"

#define ACME_ERR           "urn:ietf:params:acme:error:"
#define ACME_MAX_NONCE_TRY 10
#define ACME_CHALLENGE_TTL (7 * 86400)

typedef struct http_resp {
    long status;
    char *body;
    size_t len;
    char *location;
    char *nonce;
    char *ctype;
    int retry_after;
    char *alternates[8]; /* Link: <...>;rel="alternate" (other chains) */
    int nalternates;
} http_resp;

typedef struct acme {
    cin_store *st;
    const char *ca;
    cin_ca_config cfg;
    CURL *curl;
    json_t *dir;
    char *nonce;
    EVP_PKEY *key;
    char *kid;
    char errbuf[CURL_ERROR_SIZE];
} acme;

static void resp_clear(http_resp *h)
{
    int i;

    for (i = 0; i < h->nalternates; i++)
        free(h->alternates[i]);
    free(h->body);
    free(h->location);
    free(h->nonce);
    free(h->ctype);
    memset(h, 0, sizeof(*h));
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    http_resp *h = ud;
    size_t add = size * n;
    char *m;

    if (h->len + add > 4 * 1024 * 1024)
        return 0; /* no CA answer is that large */
    m = realloc(h->body, h->len + add + 1);
    if (!m)
        return 0;
    h->body = m;
    memcpy(h->body + h->len, data, add);
    h->len += add;
    h->body[h->len] = '\0';
    return add;
}

static char *header_value(const char *line, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *v, *end = line + len;

    if (len <= nl + 1 || strncasecmp(line, name, nl) || line[nl] != ':')
        return NULL;
    v = line + nl + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return strndup(v, (size_t)(end - v));
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    http_resp *h = ud;
    size_t len = size * n;
    char *v;

    if ((v = header_value(data, len, "Replay-Nonce"))) {
        free(h->nonce);
        h->nonce = v;
    } else if ((v = header_value(data, len, "Location"))) {
        free(h->location);
        h->location = v;
    } else if ((v = header_value(data, len, "Content-Type"))) {
        free(h->ctype);
        h->ctype = v;
    } else if ((v = header_value(data, len, "Retry-After"))) {
        h->retry_after = atoi(v);
        free(v);
    } else if ((v = header_value(data, len, "Link"))) {
        char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (lt && gt && strstr(gt, "rel=\"alternate\"") && h->nalternates < 8)
            h->alternates[h->nalternates++] = strndup(lt + 1, (size_t)(gt - lt - 1));
        free(v);
    }
    return len;
}

/* One HTTP exchange.  CIN_OK when the CA answered (whatever the status). */
static int http(acme *a, const char *method, const char *url, const char *body, const char *accept,
                http_resp *h)
{
    struct curl_slist *hdrs = NULL;
    struct curl_blob blob;
    CURLcode rc;

    memset(h, 0, sizeof(*h));
    curl_easy_reset(a->curl);
    curl_easy_setopt(a->curl, CURLOPT_URL, url);
    curl_easy_setopt(a->curl, CURLOPT_ERRORBUFFER, a->errbuf);
    curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(a->curl, CURLOPT_USERAGENT, "certinext-acme/1");
    curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(a->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(a->curl, CURLOPT_HEADERDATA, h);
    if (a->cfg.trust_pem) {
        blob.data = a->cfg.trust_pem;
        blob.len = strlen(a->cfg.trust_pem);
        blob.flags = CURL_BLOB_COPY;
        curl_easy_setopt(a->curl, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(a->curl, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(method, "POST")) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/jose+json");
        curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
    }
    if (accept) {
        char line[128];
        snprintf(line, sizeof(line), "Accept: %s", accept);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (hdrs)
        curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, hdrs);
    a->errbuf[0] = '\0';
    rc = curl_easy_perform(a->curl);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        resp_clear(h);
        return CIN_EIO;
    }
    curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &h->status);
    return CIN_OK;
}

static json_t *resp_json(const http_resp *h)
{
    return h->body ? json_loadb(h->body, h->len, 0, NULL) : NULL;
}

/* The ACME error type's short name ("badNonce"), or "" when it is none. */
static const char *problem_type(const http_resp *h, char *buf, size_t len)
{
    json_t *j = resp_json(h);
    const char *t = j ? json_string_value(json_object_get(j, "type")) : NULL;

    buf[0] = '\0';
    if (t && !strncmp(t, ACME_ERR, strlen(ACME_ERR)))
        snprintf(buf, len, "%s", t + strlen(ACME_ERR));
    json_decref(j);
    return buf;
}

static void transient(cin_ca_result *r, int retry_after, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void transient(cin_ca_result *r, int retry_after, const char *fmt, ...)
{
    json_t *p = json_object();
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_object_set_new(p, "type", json_string("urn:certinext:error:ca_unavailable"));
    json_object_set_new(p, "title",
                        json_string("The CA is unavailable; the order will be retried"));
    json_object_set_new(p, "status", json_integer(503));
    json_object_set_new(p, "detail", json_string(buf));
    free(r->problem);
    r->problem = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    r->outcome = CIN_CA_TRANSIENT;
    r->retry_after = retry_after;
}

/* A CA answer that is not what was asked for: transient or permanent. */
static void from_response(const http_resp *h, const char *what, cin_ca_result *r)
{
    json_t *j;
    char detail[160];

    snprintf(detail, sizeof(detail), "%s: HTTP %ld", what, h->status);
    if (h->status >= 500 || h->status == 429) {
        transient(r, h->retry_after, "%s", detail);
        return;
    }
    j = resp_json(h);
    free(r->problem);
    if (j && json_is_object(j) && json_object_get(j, "type")) {
        r->problem = json_dumps(j, JSON_COMPACT); /* the CA's own problem document */
    } else {
        json_decref(j);
        j = json_pack("{s:s, s:s, s:i, s:s}", "type", "urn:certinext:error:ca_error", "title",
                      "Unexpected answer from the CA", "status", (int)h->status, "detail", detail);
        r->problem = json_dumps(j, JSON_COMPACT);
    }
    json_decref(j);
    r->outcome = CIN_CA_FAILED;
}

static int fresh_nonce(acme *a)
{
    const char *url = json_string_value(json_object_get(a->dir, "newNonce"));
    http_resp h;

    if (!url || http(a, "HEAD", url, NULL, NULL, &h) != CIN_OK)
        return CIN_EIO;
    free(a->nonce);
    a->nonce = h.nonce;
    h.nonce = NULL;
    resp_clear(&h);
    return a->nonce ? CIN_OK : CIN_EIO;
}

/* A signed POST; badNonce answers are retried with the nonce they carry.
 * *h is always initialised, also when no exchange took place. */
static int post(acme *a, const char *url, const char *payload, int use_jwk, const char *accept,
                http_resp *h)
{
    char type[64];
    int i;

    memset(h, 0, sizeof(*h)); /* pick_chain() clears it after a failed post */
    for (i = 0; i < ACME_MAX_NONCE_TRY; i++) {
        char *jws;
        int rc;
        if (!a->nonce && fresh_nonce(a) != CIN_OK)
            return CIN_EIO;
        jws = jws_es256(a->key, use_jwk ? NULL : a->kid, a->nonce, url, payload);
        free(a->nonce);
        a->nonce = NULL;
        if (!jws)
            return CIN_ERR;
        rc = http(a, "POST", url, jws, accept, h);
        free(jws);
        if (rc != CIN_OK)
            return rc;
        if (h->nonce) {
            a->nonce = h->nonce;
            h->nonce = NULL;
        }
        if (h->status == 400 && !strcmp(problem_type(h, type, sizeof(type)), "badNonce")) {
            resp_clear(h);
            continue;
        }
        return CIN_OK;
    }
    return CIN_OK; /* the last badNonce answer stands */
}

static void acme_free(acme *a)
{
    if (a->curl)
        curl_easy_cleanup(a->curl);
    json_decref(a->dir);
    free(a->nonce);
    EVP_PKEY_free(a->key);
    free(a->kid);
    cin_ca_config_clear(&a->cfg);
}

/* Load the configuration, the directory and the account key (made once). */
static int acme_init(acme *a, cin_store *st, const char *ca, cin_ca_result *r)
{
    char *pem = NULL;
    http_resp h;
    int rc;

    memset(a, 0, sizeof(*a));
    a->st = st;
    a->ca = ca;
    if (cin_store_ca_get(st, ca, &a->cfg) != CIN_OK || !a->cfg.directory_url) {
        r->outcome = CIN_CA_FAILED;
        r->problem = strdup("{\"type\":\"urn:certinext:error:ca_error\",\"title\":\"The CA "
                            "configuration is missing\",\"status\":500}");
        return CIN_ERR;
    }
    a->curl = curl_easy_init();
    if (!a->curl) {
        transient(r, 5, "%s", "libcurl could not start");
        return CIN_ERR;
    }
    if (http(a, "GET", a->cfg.directory_url, NULL, NULL, &h) != CIN_OK) {
        transient(r, 0, "the CA's directory %s is unreachable", a->errbuf);
        return CIN_EIO;
    }
    if (h.status != 200 || !(a->dir = resp_json(&h)) || !json_object_get(a->dir, "newOrder")) {
        from_response(&h, "directory", r);
        if (h.status == 200) /* an answer that is no directory: a misconfiguration */
            r->outcome = CIN_CA_FAILED;
        resp_clear(&h);
        return CIN_ERR;
    }
    resp_clear(&h);
    rc = cin_store_ca_get_secret(st, ca, "account_key", &pem);
    if (rc == CIN_ENOTFOUND) {
        /* first use of this CA: an ES256 account key, sealed in the store */
        rc = cin_key_generate("ec-p256", &pem);
        if (rc == CIN_OK && (rc = cin_store_begin(st)) == CIN_OK) {
            rc = cin_store_ca_set_secret(st, ca, "account_key", pem);
            rc = cin_store_end(st, rc);
        }
    }
    if (rc == CIN_OK)
        a->key = cin_key_from_pem(pem);
    if (pem)
        cin_free_secret(pem, strlen(pem));
    if (!a->key) {
        transient(r, 5, "%s", "the ACME account key cannot be opened");
        return CIN_ERR;
    }
    if (a->cfg.account_url)
        a->kid = strdup(a->cfg.account_url);
    return CIN_OK;
}

static int save_account(acme *a, const char *url)
{
    int rc = cin_store_begin(a->st);

    if (rc == CIN_OK)
        rc = cin_store_ca_set(a->st, a->ca, "account_url", url);
    rc = cin_store_end(a->st, rc);
    free(a->kid);
    a->kid = url ? strdup(url) : NULL;
    return rc;
}

static int ensure_account(acme *a, cin_ca_result *r)
{
    const char *url = json_string_value(json_object_get(a->dir, "newAccount"));
    json_t *meta = json_object_get(a->dir, "meta"), *payload;
    int eab_required = json_is_true(json_object_get(meta, "externalAccountRequired"));
    char *body = NULL, *hmac = NULL;
    http_resp h;
    int rc;

    if (a->kid)
        return CIN_OK;
    payload = json_pack("{s:b}", "termsOfServiceAgreed", 1);
    if (a->cfg.contact)
        json_object_set_new(payload, "contact", json_pack("[s]", a->cfg.contact));
    if (a->cfg.eab_kid || eab_required) {
        unsigned char *key = NULL;
        size_t keylen = 0;
        if (!a->cfg.eab_kid || cin_store_ca_get_secret(a->st, a->ca, "eab_hmac", &hmac) != CIN_OK ||
            !(key = cin_b64url_decode(hmac, &keylen))) {
            r->outcome = CIN_CA_FAILED;
            r->problem = strdup("{\"type\":\"urn:certinext:error:ca_error\",\"title\":\"The CA "
                                "requires External Account Binding\",\"status\":400,\"detail\":"
                                "\"add the CA with --eab-kid and --eab-hmac-file\"}");
            json_decref(payload);
            if (hmac)
                cin_free_secret(hmac, strlen(hmac));
            return CIN_ERR;
        }
        json_object_set_new(payload, "externalAccountBinding",
                            jws_eab(a->cfg.eab_kid, key, keylen, url, a->key));
        cin_free_secret(key, keylen);
        cin_free_secret(hmac, strlen(hmac));
    }
    body = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    rc = post(a, url, body, 1, NULL, &h);
    free(body);
    if (rc != CIN_OK) {
        transient(r, 0, "the CA is unreachable: %s", a->errbuf);
        return CIN_EIO;
    }
    if ((h.status == 200 || h.status == 201) && h.location) {
        rc = save_account(a, h.location);
        resp_clear(&h);
        return rc;
    }
    from_response(&h, "account registration", r);
    resp_clear(&h);
    return CIN_ERR;
}

static json_t *load_state(acme *a, int64_t order_id)
{
    char *js = NULL, *ca = NULL;
    json_t *j = NULL;

    if (cin_store_acme_state_get(a->st, order_id, &ca, &js) == CIN_OK && ca && !strcmp(ca, a->ca))
        j = json_loads(js, 0, NULL);
    free(js);
    free(ca);
    return j;
}

static int save_state(acme *a, int64_t order_id, json_t *state)
{
    char *js = state ? json_dumps(state, JSON_COMPACT) : NULL;
    int rc = cin_store_begin(a->st);

    if (rc == CIN_OK)
        rc = cin_store_acme_state_put(a->st, order_id, a->ca, js);
    rc = cin_store_end(a->st, rc);
    free(js);
    return rc;
}

static char *csr_der_b64(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509_REQ *req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    char *out = NULL;
    int len;

    if (req && (len = i2d_X509_REQ(req, &der)) > 0)
        out = cin_b64url_encode(der, (size_t)len);
    OPENSSL_free(der);
    X509_REQ_free(req);
    BIO_free(b);
    return out;
}

/* The error of the first failed challenge, else the order's own. */
static char *order_error(acme *a, json_t *order)
{
    json_t *authzs = json_object_get(order, "authorizations"), *e;
    size_t i;

    for (i = 0; i < json_array_size(authzs); i++) {
        http_resp h;
        json_t *az, *ch;
        size_t k;
        if (post(a, json_string_value(json_array_get(authzs, i)), NULL, 0, NULL, &h) != CIN_OK)
            continue;
        az = resp_json(&h);
        resp_clear(&h);
        json_array_foreach(json_object_get(az, "challenges"), k, ch)
        {
            e = json_object_get(ch, "error");
            if (json_is_object(e)) { /* a problem document; json_dumps() takes no scalar */
                char *s = json_dumps(e, JSON_COMPACT);
                json_decref(az);
                return s;
            }
        }
        json_decref(az);
    }
    e = json_object_get(order, "error");
    return json_is_object(e)
               ? json_dumps(e, JSON_COMPACT)
               : strdup("{\"type\":\"urn:certinext:error:ca_error\",\"title\":\"The CA "
                        "declared the order invalid\",\"status\":400}");
}

/* Answer every pending authorization's http-01 challenge. */
static int authorize(acme *a, cin_order *o, json_t *order, cin_ca_result *r)
{
    json_t *authzs = json_object_get(order, "authorizations");
    char *thumb = jws_thumbprint(a->key);
    time_t now = cin_now(cin_store_services(a->st));
    size_t i;
    int rc = CIN_OK;

    for (i = 0; rc == CIN_OK && i < json_array_size(authzs); i++) {
        const char *url = json_string_value(json_array_get(authzs, i));
        json_t *az = NULL, *ch, *http01 = NULL;
        http_resp h;
        size_t k;

        if (post(a, url, NULL, 0, NULL, &h) != CIN_OK) {
            transient(r, 0, "the CA is unreachable: %s", a->errbuf);
            rc = CIN_EIO;
            break;
        }
        if (h.status != 200 || !(az = resp_json(&h))) {
            from_response(&h, "authorization", r);
            resp_clear(&h);
            rc = CIN_ERR;
            break;
        }
        resp_clear(&h);
        if (strcmp(json_string_value(json_object_get(az, "status")) ?: "", "pending")) {
            json_decref(az);
            continue; /* valid already (or invalid: the order says so) */
        }
        json_array_foreach(json_object_get(az, "challenges"), k, ch)
        {
            if (!strcmp(json_string_value(json_object_get(ch, "type")) ?: "", "http-01"))
                http01 = ch;
        }
        if (!http01 || !thumb) {
            r->outcome = CIN_CA_FAILED;
            r->problem = strdup("{\"type\":\"urn:certinext:error:ca_error\",\"title\":\"The CA "
                                "offers no http-01 challenge\",\"status\":400}");
            json_decref(az);
            rc = CIN_ERR;
            break;
        }
        {
            const char *token = json_string_value(json_object_get(http01, "token"));
            char *keyauth = token ? cin_asprintf("%s.%s", token, thumb) : NULL;
            int srv = keyauth ? cin_store_begin(a->st) : CIN_ERR;
            if (srv == CIN_OK) {
                srv = cin_store_challenge_put(a->st, "acme", token, keyauth, o->id,
                                              now + ACME_CHALLENGE_TTL);
                if (srv == CIN_OK)
                    srv = cin_store_commit(a->st);
                else
                    cin_store_rollback(a->st);
            }
            free(keyauth);
            if (srv != CIN_OK) {
                transient(r, 5, "%s", "cannot store the challenge answer");
                json_decref(az);
                rc = CIN_ERR;
                break;
            }
        }
        /* the answer is in place on every server: tell the CA to look */
        if (!strcmp(json_string_value(json_object_get(http01, "status")) ?: "", "pending")) {
            if (post(a, json_string_value(json_object_get(http01, "url")), "{}", 0, NULL, &h) !=
                CIN_OK) {
                transient(r, 0, "the CA is unreachable: %s", a->errbuf);
                rc = CIN_EIO;
            } else if (h.status != 200) {
                from_response(&h, "challenge", r);
                rc = CIN_ERR;
            }
            resp_clear(&h);
        }
        json_decref(az);
    }
    free(thumb);
    return rc;
}

/* Does the chain end at a root (the last issuer) whose name contains want? */
static int chain_prefers(const char *pem, const char *want)
{
    STACK_OF(X509) *sk = cin_chain_parse(pem);
    char name[256] = "";
    int ok = 0;

    if (sk) {
        X509_NAME_oneline(X509_get_issuer_name(sk_X509_value(sk, sk_X509_num(sk) - 1)), name,
                          sizeof(name));
        ok = strstr(name, want) != NULL;
        sk_X509_pop_free(sk, X509_free);
    }
    return ok;
}

/* The default chain, or an alternate one the CA configuration prefers. */
static char *pick_chain(acme *a, http_resp *h)
{
    char *chain = h->body;
    int i;

    h->body = NULL;
    if (!a->cfg.preferred_chain || chain_prefers(chain, a->cfg.preferred_chain))
        return chain;
    for (i = 0; i < h->nalternates; i++) {
        http_resp alt;
        if (post(a, h->alternates[i], NULL, 0, "application/pem-certificate-chain", &alt) ==
                CIN_OK &&
            alt.status == 200 && alt.body && chain_prefers(alt.body, a->cfg.preferred_chain)) {
            free(chain);
            chain = alt.body;
            alt.body = NULL;
            resp_clear(&alt);
            return chain;
        }
        resp_clear(&alt);
    }
    return chain; /* none matches: the default chain still works */
}

static void advance(cin_store *st, const char *ca, cin_order *o, cin_ca_result *r)
{
    json_t *state = NULL, *order = NULL;
    const char *status;
    http_resp h;
    acme a;
    int round;

    memset(r, 0, sizeof(*r));
    memset(&h, 0, sizeof(h));
    if (acme_init(&a, st, ca, r) != CIN_OK)
        goto done;
    for (round = 0; round < 3 && !order; round++) {
        char type[64];
        if (ensure_account(&a, r) != CIN_OK)
            goto done;
        state = load_state(&a, o->id);
        if (!state) {
            json_t *ids = json_array(), *pl;
            char *body;
            size_t i;
            for (i = 0; i < o->nsans; i++)
                json_array_append_new(ids,
                                      json_pack("{s:s, s:s}", "type", "dns", "value", o->sans[i]));
            pl = json_pack("{s:o}", "identifiers", ids);
            body = json_dumps(pl, JSON_COMPACT);
            json_decref(pl);
            if (post(&a, json_string_value(json_object_get(a.dir, "newOrder")), body, 0, NULL,
                     &h) != CIN_OK) {
                free(body);
                transient(r, 0, "the CA is unreachable: %s", a.errbuf);
                goto done;
            }
            free(body);
            if (h.status == 201 && h.location && (order = resp_json(&h))) {
                state = json_pack("{s:s, s:O}", "order_url", h.location, "names",
                                  json_object_get(order, "identifiers"));
                if (save_state(&a, o->id, state) != CIN_OK) {
                    transient(r, 5, "%s", "cannot record the ACME order");
                    goto done;
                }
                resp_clear(&h);
                break;
            }
        } else {
            if (post(&a, json_string_value(json_object_get(state, "order_url")), NULL, 0, NULL,
                     &h) != CIN_OK) {
                transient(r, 0, "the CA is unreachable: %s", a.errbuf);
                goto done;
            }
            if (h.status == 200 && (order = resp_json(&h))) {
                resp_clear(&h);
                break;
            }
        }
        problem_type(&h, type, sizeof(type));
        if (!strcmp(type, "accountDoesNotExist") || !strcmp(type, "unauthorized") ||
            (h.status == 404 && state)) {
            /* the CA no longer knows the account or the order: start afresh
             * (an order it forgot cannot have been issued by it) */
            if (strcmp(type, "unauthorized") || a.kid) {
                if (!strcmp(type, "accountDoesNotExist") || (h.status == 404 && !state))
                    save_account(&a, NULL);
                save_state(&a, o->id, NULL);
                json_decref(state);
                state = NULL;
                if (!strcmp(type, "unauthorized") && round > 0) {
                    from_response(&h, "order", r);
                    goto done;
                }
                resp_clear(&h);
                continue;
            }
        }
        from_response(&h, state ? "order" : "new order", r);
        goto done;
    }
    if (!order) {
        transient(r, 5, "%s", "the CA keeps forgetting the order");
        goto done;
    }
    status = json_string_value(json_object_get(order, "status"));
    if (!status)
        status = "";
    if (!strcmp(status, "pending")) {
        if (authorize(&a, o, order, r) == CIN_OK) {
            r->outcome = CIN_CA_PENDING;
            r->retry_after = 1;
        }
    } else if (!strcmp(status, "ready")) {
        char *csr = o->csr_pem ? csr_der_b64(o->csr_pem) : NULL, *body;
        if (!csr) {
            r->outcome = CIN_CA_FAILED;
            r->problem = strdup("{\"type\":\"urn:certinext:error:invalid_csr\",\"title\":\"The "
                                "order has no usable CSR\",\"status\":400}");
            goto done;
        }
        body = cin_asprintf("{\"csr\":\"%s\"}", csr);
        free(csr);
        if (post(&a, json_string_value(json_object_get(order, "finalize")), body, 0, NULL, &h) !=
            CIN_OK) {
            transient(r, 0, "the CA is unreachable: %s", a.errbuf);
        } else if (h.status == 200) {
            json_object_set_new(state, "finalized", json_true());
            save_state(&a, o->id, state);
            r->outcome = CIN_CA_PENDING;
            r->retry_after = h.retry_after > 0 ? h.retry_after : 1;
        } else {
            from_response(&h, "finalize", r);
        }
        free(body);
    } else if (!strcmp(status, "processing")) {
        r->outcome = CIN_CA_PENDING;
        r->retry_after = 1;
    } else if (!strcmp(status, "valid")) {
        const char *cert = json_string_value(json_object_get(order, "certificate"));
        if (!cert || post(&a, cert, NULL, 0, "application/pem-certificate-chain", &h) != CIN_OK) {
            transient(r, 0, "the certificate could not be downloaded: %s", a.errbuf);
        } else if (h.status == 200 && h.body && strstr(h.body, "-----BEGIN CERTIFICATE-----")) {
            r->outcome = CIN_CA_DONE;
            r->chain_pem = pick_chain(&a, &h);
            if (cin_store_begin(st) == CIN_OK) {
                if (cin_store_challenge_delete_order(st, o->id) != CIN_OK ||
                    cin_store_commit(st) != CIN_OK)
                    cin_store_rollback(st);
            }
        } else {
            from_response(&h, "certificate download", r);
        }
    } else {
        /* invalid (or unknown): keep the CA's own words; a retry starts a new order */
        r->outcome = CIN_CA_FAILED;
        r->problem = order_error(&a, order);
        save_state(&a, o->id, NULL);
    }
done:
    resp_clear(&h);
    json_decref(state);
    json_decref(order);
    acme_free(&a);
}

static int reason_code(const char *reason)
{
    if (!reason || !strcmp(reason, "unspecified"))
        return 0;
    if (!strcmp(reason, "keyCompromise"))
        return 1;
    if (!strcmp(reason, "affiliationChanged"))
        return 3;
    if (!strcmp(reason, "superseded"))
        return 4;
    if (!strcmp(reason, "cessationOfOperation"))
        return 5;
    return 0;
}

static void revoke(cin_store *st, const char *ca, const cin_cert *c, const char *reason,
                   cin_ca_result *r)
{
    STACK_OF(X509) *chain = cin_chain_parse(c->chain_pem);
    unsigned char *der = NULL;
    char *b64 = NULL, *body = NULL, type[64];
    http_resp h;
    acme a;
    int len, round;

    memset(r, 0, sizeof(*r));
    memset(&h, 0, sizeof(h));
    if (!chain || (len = i2d_X509(sk_X509_value(chain, 0), &der)) <= 0 ||
        !(b64 = cin_b64url_encode(der, (size_t)len))) {
        r->outcome = CIN_CA_FAILED;
        r->problem = strdup("{\"type\":\"urn:certinext:error:ca_error\",\"title\":\"The "
                            "certificate cannot be read\",\"status\":500}");
        goto out;
    }
    body = cin_asprintf("{\"certificate\":\"%s\",\"reason\":%d}", b64, reason_code(reason));
    if (acme_init(&a, st, ca, r) != CIN_OK) {
        acme_free(&a);
        goto out;
    }
    for (round = 0; round < 2; round++) {
        if (ensure_account(&a, r) != CIN_OK)
            break;
        if (post(&a, json_string_value(json_object_get(a.dir, "revokeCert")), body, 0, NULL, &h) !=
            CIN_OK) {
            transient(r, 0, "the CA is unreachable: %s", a.errbuf);
            break;
        }
        if (h.status == 200) {
            r->outcome = CIN_CA_DONE;
            break;
        }
        if (!strcmp(problem_type(&h, type, sizeof(type)), "alreadyRevoked")) {
            r->outcome = CIN_CA_DONE;
            break;
        }
        if (!strcmp(type, "accountDoesNotExist") && round == 0) {
            save_account(&a, NULL);
            resp_clear(&h);
            continue;
        }
        from_response(&h, "revocation", r);
        break;
    }
    resp_clear(&h);
    acme_free(&a);
out:
    free(body);
    free(b64);
    OPENSSL_free(der);
    sk_X509_pop_free(chain, X509_free);
}

const cin_ca_ops cin_ca_acme_ops = {"acme", advance, advance, revoke};
