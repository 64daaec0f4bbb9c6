/*
 * acme_account.c - the ACME account: the CA's directory, nonces, signed
 * requests and the account itself, with External Account Binding when the
 * configuration names an EAB key or the CA requires one.
 *
 * The account key (ES256) is made on first use and sealed in the store with
 * the CA configuration, as is the EAB HMAC key: both are opened here, used,
 * and wiped; neither reaches a log or a problem document.  An account the CA
 * no longer knows (a reset CA answers accountDoesNotExist) is forgotten by
 * acme_account_forget and registered again by the next acme_account_ensure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_int.h"
#include "cin_agent.h"
#include "cin_util.h"
#include "cin_x509.h"

/* badNonce answers in a row before the exchange counts as failed (transient) */
#define ACME_MAX_NONCE_TRY 10

const char *acme_dir_url(const acme *a, const char *name)
{
    return json_string_value(json_object_get(a->dir, name));
}

/* One exchange through the HTTP implementation; a->err says why it failed. */
static int exchange(acme *a, const char *method, const char *url, const char *const *headers,
                    const char *body, acme_http_resp *h)
{
    memset(h, 0, sizeof(*h));
    a->err[0] = '\0';
    if (!url) {
        snprintf(a->err, sizeof(a->err), "the CA named no URL for this step");
        return CIN_EINVAL;
    }
    if (cin_agent_lease_keep(a->st) == CIN_ECONFLICT) {
        snprintf(a->err, sizeof(a->err), "another agent has taken this order over");
        return CIN_ECONFLICT;
    }
    return a->http->request(a->client, method, url, headers, body, h, a->err, sizeof(a->err));
}

static int fresh_nonce(acme *a)
{
    acme_http_resp h;
    int rc = exchange(a, "HEAD", acme_dir_url(a, "newNonce"), NULL, NULL, &h);

    if (rc != CIN_OK)
        return rc;
    free(a->nonce);
    a->nonce = h.nonce;
    h.nonce = NULL;
    if (!a->nonce) {
        snprintf(a->err, sizeof(a->err), "the CA gave no nonce (HTTP %ld)", h.status);
        rc = CIN_EIO;
    }
    acme_resp_clear(&h);
    return rc;
}

/* A signed POST, with the account's kid or (registration) its JWK. */
static int post(acme *a, const char *url, const char *payload, int use_jwk, const char *accept,
                acme_http_resp *h)
{
    const char *headers[3] = {"Content-Type: application/jose+json", NULL, NULL};
    char acc[128], type[64];
    int i, rc = CIN_OK;

    memset(h, 0, sizeof(*h));
    if (!url) {
        rc = exchange(a, "POST", url, NULL, NULL, h); /* says so in a->err */
        goto done;
    }
    if (accept) {
        snprintf(acc, sizeof(acc), "Accept: %s", accept);
        headers[1] = acc;
    }
    for (i = 0; i < ACME_MAX_NONCE_TRY; i++) {
        char *jws;
        if (!a->nonce && (rc = fresh_nonce(a)) != CIN_OK)
            goto done;
        jws = jws_es256(a->key, use_jwk ? NULL : a->kid, a->nonce, url, payload);
        free(a->nonce); /* a nonce is good for one request only */
        a->nonce = NULL;
        if (!jws) {
            snprintf(a->err, sizeof(a->err), "the request could not be signed");
            rc = CIN_ERR;
            goto done;
        }
        rc = exchange(a, "POST", url, headers, jws, h);
        free(jws);
        if (rc != CIN_OK)
            goto done;
        a->nonce = h->nonce;
        h->nonce = NULL;
        if (h->status != 400 || strcmp(acme_resp_problem(h, type, sizeof(type)), "badNonce"))
            goto done;
        acme_resp_clear(h); /* the answer's own nonce is the one to retry with */
    }
    /* a CA that refuses every nonce is in trouble, not the order: later */
    snprintf(a->err, sizeof(a->err), "the CA refused %d nonces in a row (badNonce)",
             ACME_MAX_NONCE_TRY);
    rc = CIN_EBUSY;
done:
    return rc;
}

int acme_post(acme *a, const char *url, const char *payload, const char *accept, acme_http_resp *h)
{
    return post(a, url, payload, 0, accept, h);
}

static int open_directory(acme *a, cin_ca_result *r)
{
    acme_http_resp h;
    int rc = exchange(a, "GET", a->cfg.directory_url, NULL, NULL, &h);

    if (rc != CIN_OK) {
        acme_transient(r, 0, "the CA's directory cannot be reached: %s", a->err);
        goto done;
    }
    a->dir = h.status == 200 ? acme_resp_json(&h) : NULL;
    if (!acme_dir_url(a, "newNonce") || !acme_dir_url(a, "newAccount") ||
        !acme_dir_url(a, "newOrder")) {
        acme_from_response(&h, "directory", r);
        if (h.status == 200) /* an answer that is no directory: a misconfiguration */
            acme_failed(r, 502, "ca_error", "The CA's directory is not usable",
                        "%s answered no ACME directory (newNonce, newAccount, newOrder)",
                        a->cfg.directory_url);
        rc = CIN_ERR;
    }
done:
    acme_resp_clear(&h);
    return rc;
}

static int open_key(acme *a, cin_ca_result *r)
{
    char *pem = NULL;
    int rc = cin_store_ca_get_secret(a->st, a->ca, "account_key", &pem);

    if (rc == CIN_ENOTFOUND) {
        /* first use of this CA: an ES256 account key, sealed in the store */
        rc = cin_key_generate("ec-p256", &pem);
        if (rc == CIN_OK && (rc = cin_store_begin(a->st)) == CIN_OK) {
            rc = cin_store_ca_set_secret(a->st, a->ca, "account_key", pem);
            rc = cin_store_end(a->st, rc);
        }
    }
    if (rc == CIN_OK && !(a->key = cin_key_from_pem(pem)))
        rc = CIN_ECRYPTO;
    if (pem)
        cin_free_secret(pem, strlen(pem));
    if (rc != CIN_OK)
        acme_transient(r, 5, "the ACME account key cannot be opened (%s)", cin_strstatus(rc));
    return rc;
}

int acme_open(acme *a, cin_store *st, const char *ca, cin_ca_result *r)
{
    int rc;

    memset(a, 0, sizeof(*a));
    a->st = st;
    a->ca = ca;
    a->http = acme_http_impl();
    rc = cin_store_ca_get(st, ca, &a->cfg);
    if (rc != CIN_OK || !a->cfg.directory_url) {
        acme_failed(r, 500, "ca_error", "The CA configuration is missing",
                    "the CA configuration %s has no ACME directory URL", ca);
        return rc != CIN_OK ? rc : CIN_EINVAL;
    }
    a->client = a->http->open(a->cfg.trust_pem);
    if (!a->client) {
        acme_transient(r, 5, "the HTTP client could not start");
        return CIN_ERR;
    }
    rc = open_directory(a, r);
    if (rc == CIN_OK)
        rc = open_key(a, r);
    if (rc == CIN_OK && a->cfg.account_url && !(a->kid = strdup(a->cfg.account_url)))
        rc = CIN_ENOMEM;
    return rc;
}

void acme_close(acme *a)
{
    if (a->client)
        a->http->close(a->client);
    json_decref(a->dir);
    free(a->nonce);
    EVP_PKEY_free(a->key);
    free(a->kid);
    cin_ca_config_clear(&a->cfg);
    memset(a, 0, sizeof(*a));
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

int acme_account_forget(acme *a)
{
    return save_account(a, NULL);
}

/* Add the externalAccountBinding to a newAccount payload. */
static int bind_external(acme *a, json_t *payload, const char *url, cin_ca_result *r)
{
    unsigned char *key = NULL;
    char *hmac = NULL;
    size_t keylen = 0;
    json_t *eab = NULL;
    int rc = CIN_EINVAL;

    if (a->cfg.eab_kid && cin_store_ca_get_secret(a->st, a->ca, "eab_hmac", &hmac) == CIN_OK)
        key = cin_b64url_decode(hmac, &keylen);
    if (key)
        eab = jws_eab(a->cfg.eab_kid, key, keylen, url, a->key);
    if (eab && json_object_set_new(payload, "externalAccountBinding", eab) == 0)
        rc = CIN_OK;
    if (rc != CIN_OK)
        acme_failed(r, 400, "ca_error", "The CA requires External Account Binding",
                    "add the CA with --eab-kid and --eab-hmac-file");
    if (key)
        cin_free_secret(key, keylen);
    if (hmac)
        cin_free_secret(hmac, strlen(hmac));
    return rc;
}

int acme_account_ensure(acme *a, cin_ca_result *r)
{
    const char *url = acme_dir_url(a, "newAccount");
    json_t *meta = json_object_get(a->dir, "meta"), *payload;
    char *body = NULL;
    acme_http_resp h;
    int rc = CIN_OK;

    memset(&h, 0, sizeof(h));
    if (a->kid)
        return CIN_OK;
    payload = json_pack("{s:b}", "termsOfServiceAgreed", 1);
    if (payload && a->cfg.contact)
        json_object_set_new(payload, "contact", json_pack("[s]", a->cfg.contact));
    if (payload &&
        (a->cfg.eab_kid || json_is_true(json_object_get(meta, "externalAccountRequired"))) &&
        (rc = bind_external(a, payload, url, r)) != CIN_OK)
        goto done;
    body = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    rc = body ? post(a, url, body, 1, NULL, &h) : CIN_ENOMEM;
    if (rc != CIN_OK) {
        acme_exchange_failed(a, rc, r);
        goto done;
    }
    if ((h.status == 200 || h.status == 201) && h.location) {
        rc = save_account(a, h.location);
        if (rc != CIN_OK)
            acme_transient(r, 5, "the ACME account could not be recorded (%s)", cin_strstatus(rc));
        goto done;
    }
    acme_from_response(&h, "account registration", r);
    rc = CIN_ERR;
done:
    acme_resp_clear(&h);
    free(body);
    json_decref(payload);
    return rc;
}
