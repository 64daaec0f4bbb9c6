/*
 * acme_finalize.c - the end of an ACME order: finalize with the order's CSR,
 * then, once the CA has issued, download the chain - or, when the CA
 * configuration prefers another root, the CA's alternate chain that ends
 * there (RFC 8555 7.4.2: Link rel="alternate").
 *
 * "finalized" is written to the order's state *before* the finalize request
 * is sent: a cancelled order's clean-up (acme.c) then knows that the CA may
 * have issued, even when the agent stopped before it saw the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "acme_int.h"
#include "cin_util.h"
#include "cin_x509.h"

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

/* Is o still to be issued?  It may have been cancelled while its challenges
 * were answered: then nothing is finalized. */
static int still_wanted(acme *a, const cin_order *o)
{
    cin_order cur;
    int rc = cin_store_order_get(a->st, o->id, &cur), wanted;

    if (rc != CIN_OK)
        return 0;
    wanted = !strcmp(cur.status, "processing");
    cin_order_clear(&cur);
    return wanted;
}

int acme_finalize(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r)
{
    char *csr = o->csr_pem ? csr_der_b64(o->csr_pem) : NULL, *body = NULL;
    acme_http_resp h;
    int rc;

    memset(&h, 0, sizeof(h));
    if (!csr) {
        acme_failed(r, 400, "invalid_csr", "The order has no usable CSR",
                    "the order's CSR cannot be read");
        rc = CIN_EINVAL;
        goto done;
    }
    if (!still_wanted(a, o)) {
        acme_pending(r, 1); /* the agent drops it; the clean-up finds nothing */
        rc = CIN_ECONFLICT;
        goto done;
    }
    json_object_set_new(ord->state, "finalized", json_true());
    rc = acme_state_save(a->st, a->ca, o->id, ord->state);
    if (rc != CIN_OK) {
        acme_transient(r, 5, "the ACME order could not be recorded (%s)", cin_strstatus(rc));
        goto done;
    }
    body = cin_asprintf("{\"csr\":\"%s\"}", csr);
    rc = body ? acme_post(a, json_string_value(json_object_get(ord->json, "finalize")), body, NULL,
                          &h)
              : CIN_ENOMEM;
    if (rc != CIN_OK) {
        acme_exchange_failed(a, rc, r);
    } else if (h.status == 200) {
        acme_pending(r, acme_retry_after(&h, 1));
    } else {
        acme_from_response(&h, "finalize", r);
        rc = CIN_ERR;
    }
done:
    acme_resp_clear(&h);
    free(body);
    free(csr);
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

static int is_chain(const acme_http_resp *h)
{
    return h->status == 200 && h->body && strstr(h->body, "-----BEGIN CERTIFICATE-----");
}

/* The default chain (taken from h), or an alternate one the configuration
 * prefers; when none matches, the default chain still works. */
static char *pick_chain(acme *a, acme_http_resp *h)
{
    char *chain = h->body, *urls[ACME_MAX_LINKS];
    int i, n;

    h->body = NULL;
    if (!a->cfg.preferred_chain || chain_prefers(chain, a->cfg.preferred_chain))
        return chain;
    n = acme_resp_alternates(h, urls, ACME_MAX_LINKS);
    for (i = 0; i < n; i++) {
        acme_http_resp alt;
        int found =
            acme_post(a, urls[i], NULL, "application/pem-certificate-chain", &alt) == CIN_OK &&
            is_chain(&alt) && chain_prefers(alt.body, a->cfg.preferred_chain);
        if (found) {
            free(chain);
            chain = alt.body;
            alt.body = NULL;
        }
        acme_resp_clear(&alt);
        if (found)
            break;
    }
    for (i = 0; i < n; i++)
        free(urls[i]);
    return chain;
}

int acme_download(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r)
{
    const char *url = json_string_value(json_object_get(ord->json, "certificate"));
    acme_http_resp h;
    int rc;

    memset(&h, 0, sizeof(h));
    if (!url) {
        acme_failed(r, 502, "ca_error", "The CA's answer is not usable",
                    "the CA's valid order names no certificate");
        rc = CIN_EINVAL;
        goto done;
    }
    rc = acme_post(a, url, NULL, "application/pem-certificate-chain", &h);
    if (rc != CIN_OK) {
        acme_exchange_failed(a, rc, r);
        goto done;
    }
    if (!is_chain(&h)) {
        acme_from_response(&h, "certificate download", r);
        rc = CIN_ERR;
        goto done;
    }
    r->outcome = CIN_CA_DONE;
    r->chain_pem = pick_chain(a, &h);
    /* the challenge answers have served their purpose */
    acme_dns_cleanup(a->st, a->ca, o->id);
    if (cin_store_begin(a->st) == CIN_OK)
        cin_store_end(a->st, cin_store_challenge_delete_order(a->st, o->id));
done:
    acme_resp_clear(&h);
    return rc;
}
