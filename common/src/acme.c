/*
 * acme.c - the ACME (RFC 8555) CA connector: cin_ca_ops for CA
 * configurations of kind "acme" (the steps live in acme_*.c, acme_int.h).
 *
 * submit and poll are one call that advances an order as far as it can
 * without waiting, as mod_md's md_acme_order steps do (register, update,
 * await ready, await valid): get the CA's order (made once, remembered in
 * the store), then by its status answer the challenges, finalize, wait, or
 * download the chain.  revoke tells the CA about a revocation.  cleanup
 * finds out whether a cancelled order was issued after all.
 *
 * Outcomes: the CA unreachable, a 5xx, a 429 or a CA refusing every nonce
 * are transient (retried later, after the CA's Retry-After, bounded); a
 * problem document on a 4xx is permanent and kept as the order's error, in
 * the CA's own words and type URI.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_int.h"
#include "cin_util.h"
#include "cin_x509.h"

/* ---- outcomes ------------------------------------------------------------- */

void acme_pending(cin_ca_result *r, int seconds)
{
    cin_problem_clear(&r->problem);
    r->outcome = CIN_CA_PENDING;
    r->retry_after = seconds;
}

void acme_transient(cin_ca_result *r, int retry_after, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    cin_problem_set(&r->problem, 503, "ca_unavailable", "%s", detail);
    r->problem.title = strdup("The CA is unavailable; this will be retried");
    r->problem.retry_after = retry_after;
    r->outcome = CIN_CA_TRANSIENT;
    r->retry_after = retry_after;
}

void acme_failed(cin_ca_result *r, int status, const char *code, const char *title, const char *fmt,
                 ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    cin_problem_set(&r->problem, status, code, "%s", detail);
    r->problem.title = strdup(title);
    r->outcome = CIN_CA_FAILED;
    r->retry_after = 0;
}

void acme_failed_doc(cin_ca_result *r, json_t *doc, int status, const char *title)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    cin_problem p;

    if (!text || cin_problem_parse(text, &p) != CIN_OK) {
        acme_failed(r, status, "ca_error", title, "the CA's problem document cannot be read");
        free(text);
        return;
    }
    free(text);
    /* the CA's type, detail and subproblems; ours where it says nothing usable */
    if (p.status < 400 || p.status > 599)
        p.status = status;
    if (!p.title)
        p.title = strdup(title);
    p.retry_after = 0;
    cin_problem_move(&r->problem, &p);
    r->outcome = CIN_CA_FAILED;
    r->retry_after = 0;
}

void acme_from_response(const acme_http_resp *h, const char *what, cin_ca_result *r)
{
    json_t *j = acme_resp_json(h);
    const char *detail = json_string_value(json_object_get(j, "detail"));
    char title[96];

    if (h->status >= 500 || h->status == 429) {
        acme_transient(r, acme_retry_after(h, 0), "%s: the CA answered HTTP %ld%s%.200s", what,
                       h->status, detail ? ": " : "", detail ? detail : "");
    } else if (json_is_object(j) && json_is_string(json_object_get(j, "type"))) {
        snprintf(title, sizeof(title), "The CA refused the %s", what);
        acme_failed_doc(r, j, h->status >= 400 ? (int)h->status : 502, title);
    } else {
        acme_failed(r, 502, "ca_error", "Unexpected answer from the CA", "%s: HTTP %ld", what,
                    h->status);
    }
    json_decref(j);
}

void acme_exchange_failed(const acme *a, int rc, cin_ca_result *r)
{
    if (rc == CIN_EINVAL)
        acme_failed(r, 502, "ca_error", "The CA's answer is not usable", "%s", a->err);
    else if (rc == CIN_EIO)
        acme_transient(r, 0, "the CA cannot be reached: %s", a->err);
    else
        acme_transient(r, 0, "%s", a->err[0] ? a->err : cin_strstatus(rc));
}

/* ---- submit / poll ----------------------------------------------------------- */

static void advance(cin_store *st, const char *ca, cin_order *o, cin_ca_result *r)
{
    acme_order ord;
    const char *status;
    acme a;

    memset(r, 0, sizeof(*r));
    memset(&ord, 0, sizeof(ord));
    if (acme_open(&a, st, ca, r) != CIN_OK || acme_order_get(&a, o, &ord, r) != CIN_OK)
        goto done;
    status = acme_order_status(&ord);
    if (!strcmp(status, "pending"))
        acme_order_authorize(&a, o, &ord, r);
    else if (!strcmp(status, "ready"))
        acme_finalize(&a, o, &ord, r);
    else if (!strcmp(status, "processing"))
        acme_pending(r, ord.retry_after > 0 ? ord.retry_after : 1);
    else if (!strcmp(status, "valid"))
        acme_download(&a, o, &ord, r);
    else /* invalid, or a status RFC 8555 does not know: the CA's own words */
        acme_order_invalid(&a, o, &ord, r);
done:
    acme_order_clear(&ord);
    acme_close(&a);
}

/* ---- revoke ------------------------------------------------------------------ */

static int reason_code(const char *reason)
{
    static const struct {
        const char *name;
        int code;
    } codes[] = {{"keyCompromise", 1},
                 {"affiliationChanged", 3},
                 {"superseded", 4},
                 {"cessationOfOperation", 5}};
    size_t i;

    for (i = 0; reason && i < sizeof(codes) / sizeof(codes[0]); i++)
        if (!strcmp(reason, codes[i].name))
            return codes[i].code;
    return 0; /* unspecified */
}

/* {"certificate": base64url(DER of the leaf), "reason": code} */
static char *revocation_body(const cin_cert *c, const char *reason)
{
    STACK_OF(X509) *chain = c->chain_pem ? cin_chain_parse(c->chain_pem) : NULL;
    unsigned char *der = NULL;
    char *b64 = NULL, *body = NULL;
    int len;

    if (chain && (len = i2d_X509(sk_X509_value(chain, 0), &der)) > 0 &&
        (b64 = cin_b64url_encode(der, (size_t)len)))
        body = cin_asprintf("{\"certificate\":\"%s\",\"reason\":%d}", b64, reason_code(reason));
    free(b64);
    OPENSSL_free(der);
    sk_X509_pop_free(chain, X509_free);
    return body;
}

static void revoke(cin_store *st, const char *ca, const cin_cert *c, const char *reason,
                   cin_ca_result *r)
{
    char *body = revocation_body(c, reason), type[64];
    acme_http_resp h;
    acme a;
    int round, rc;

    memset(r, 0, sizeof(*r));
    memset(&h, 0, sizeof(h));
    memset(&a, 0, sizeof(a));
    if (!body) {
        acme_failed(r, 500, "ca_error", "The certificate cannot be read",
                    "certificate %s cannot be read to revoke it", c->serial ? c->serial : "?");
        goto done;
    }
    if (acme_open(&a, st, ca, r) != CIN_OK)
        goto done;
    for (round = 0; round < 2; round++) {
        if (acme_account_ensure(&a, r) != CIN_OK)
            goto done;
        rc = acme_post(&a, acme_dir_url(&a, "revokeCert"), body, NULL, &h);
        if (rc != CIN_OK) {
            acme_exchange_failed(&a, rc, r);
            goto done;
        }
        acme_resp_problem(&h, type, sizeof(type));
        if (h.status == 200 || !strcmp(type, "alreadyRevoked")) {
            r->outcome = CIN_CA_DONE;
            goto done;
        }
        if (strcmp(type, "accountDoesNotExist") || round > 0)
            break;
        acme_account_forget(&a); /* a reset CA: register and ask again */
        acme_resp_clear(&h);
    }
    acme_from_response(&h, "revocation", r);
done:
    acme_resp_clear(&h);
    acme_close(&a);
    free(body);
}

/* ---- cleanup after a cancel ------------------------------------------------------ */

/* FAILED in the clean-up's sense: the CA holds no certificate for the order. */
static void nothing_issued(cin_ca_result *r, const char *why)
{
    acme_failed(r, 404, "ca_error", "Nothing was issued for the cancelled order", "%s", why);
}

/* The state and the challenge answers of an order the CA is done with. */
static void forget_order(cin_store *st, const char *ca, int64_t id)
{
    int rc;

    acme_dns_cleanup(st, ca, id);
    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return;
    rc = cin_store_acme_state_put(st, id, ca, NULL);
    if (rc == CIN_OK)
        rc = cin_store_challenge_delete_order(st, id);
    cin_store_end(st, rc);
}

/* The finalized order as the CA has it now: issued, still processing, or not. */
static void cleanup_read(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r)
{
    acme_http_resp h;
    char type[64];
    int rc = acme_order_fetch(a, ord, &h);

    if (rc != CIN_OK) {
        acme_exchange_failed(a, rc, r);
        goto done;
    }
    if (!ord->json) {
        acme_resp_problem(&h, type, sizeof(type));
        if (h.status == 404 || !strcmp(type, "accountDoesNotExist") ||
            !strcmp(type, "unauthorized"))
            nothing_issued(r, "the CA no longer knows the order");
        else
            acme_from_response(&h, "order", r);
        goto done;
    }
    if (!strcmp(acme_order_status(ord), "valid"))
        acme_download(a, o, ord, r);
    else if (!strcmp(acme_order_status(ord), "processing"))
        acme_pending(r, ord->retry_after > 0 ? ord->retry_after : 1);
    else
        nothing_issued(r, "the CA's order was not issued");
done:
    acme_resp_clear(&h);
}

/*
 * A cancelled order may have been issued at the CA after all (finalize sent
 * before the cancel): then its chain is fetched, DONE, and the agent stores
 * it revoked and tells the CA.  Never finalized, invalid, or forgotten by the
 * CA: FAILED, nothing was issued.  No challenge is answered and nothing is
 * finalized here: a cancelled order is only looked at.
 */
static void cleanup(cin_store *st, const char *ca, cin_order *o, cin_ca_result *r)
{
    acme_order ord;
    acme a;

    memset(r, 0, sizeof(*r));
    memset(&ord, 0, sizeof(ord));
    memset(&a, 0, sizeof(a));
    ord.state = acme_state_load(st, ca, o->id);
    if (!json_is_true(json_object_get(ord.state, "finalized")))
        nothing_issued(r, "the order was cancelled before it was finalized at the CA");
    else if (acme_open(&a, st, ca, r) != CIN_OK)
        goto done;
    else if (!a.kid)
        nothing_issued(r, "the CA no longer knows the account that placed the order");
    else
        cleanup_read(&a, o, &ord, r);
    if (r->outcome == CIN_CA_DONE || r->outcome == CIN_CA_FAILED)
        forget_order(st, ca, o->id);
done:
    acme_order_clear(&ord);
    acme_close(&a);
}

const cin_ca_ops cin_ca_acme_ops = {"acme", advance, advance, revoke, cleanup};
