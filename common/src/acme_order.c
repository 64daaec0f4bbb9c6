/*
 * acme_order.c - the CA's order for one of ours, and its authorizations.
 *
 * The order is made once (newOrder) and its URL kept in the store
 * (acme_orders, with the names and whether finalize was sent), so that a
 * restarted agent resumes the same ACME order instead of making a second
 * one.  When the CA has forgotten the order or the account (a reset CA, as
 * pebble is after a restart) they are made afresh: an order the CA forgot
 * cannot have been issued by it.
 *
 * Each key authorization goes into the store's challenge table, where both
 * server modules answer it, before the CA is told to look: http-01 by its
 * token (kind "acme", the well-known path), tls-alpn-01 (RFC 8737) by the
 * name (kind "alpn": every handshake that offers only acme-tls/1 for that
 * name gets a certificate made from it, see tls_alpn.c).  The CA
 * configuration chooses the type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acme_int.h"
#include "cin_store_order.h"
#include "cin_util.h"

/* how long a challenge answer is kept when nothing deletes it sooner */
#define ACME_CHALLENGE_TTL (7 * 86400)
/* How long the CA waits to be told to look while a host mirrors an answer. */
#define ACME_HOSTS_WAIT_MS 10000
/* newOrder / order reads per call: the account and the order may each be
 * found forgotten once */
#define ACME_ORDER_ROUNDS 3

void acme_order_clear(acme_order *ord)
{
    json_decref(ord->state);
    json_decref(ord->json);
    memset(ord, 0, sizeof(*ord));
}

json_t *acme_state_load(cin_store *st, const char *ca, int64_t order_id)
{
    char *js = NULL, *at = NULL;
    json_t *j = NULL;

    /* a state kept for another CA (the product moved) is not this CA's order */
    if (cin_store_acme_state_get(st, order_id, &at, &js) == CIN_OK && at && !strcmp(at, ca))
        j = json_loads(js, 0, NULL);
    free(js);
    free(at);
    if (j && !json_string_value(json_object_get(j, "order_url"))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

int acme_state_save(cin_store *st, const char *ca, int64_t order_id, json_t *state)
{
    char *js = state ? json_dumps(state, JSON_COMPACT) : NULL;
    int rc = state && !js ? CIN_ENOMEM : cin_store_begin(st);

    if (rc == CIN_OK) {
        rc = cin_store_acme_state_put(st, order_id, ca, js);
        rc = cin_store_end(st, rc);
    }
    free(js);
    return rc;
}

const char *acme_order_status(const acme_order *ord)
{
    const char *s = json_string_value(json_object_get(ord->json, "status"));

    return s ? s : "";
}

/* Take an answer's order object when it is one. */
static int take_order(acme_order *ord, const acme_http_resp *h, long want)
{
    json_t *j = h->status == want ? acme_resp_json(h) : NULL;

    if (!json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    json_decref(ord->json);
    ord->json = j;
    ord->retry_after = acme_retry_after(h, 0);
    return 1;
}

int acme_order_fetch(acme *a, acme_order *ord, acme_http_resp *h)
{
    int rc =
        acme_post(a, json_string_value(json_object_get(ord->state, "order_url")), NULL, NULL, h);

    if (rc == CIN_OK)
        take_order(ord, h, 200);
    return rc;
}

/* ARI (RFC 9773) CertID of a chain's leaf: base64url(the Authority Key
 * Identifier's keyIdentifier) "." base64url(the serial's DER content). */
char *acme_ari_cert_id(const char *chain_pem)
{
    BIO *b = BIO_new_mem_buf(chain_pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    const ASN1_OCTET_STRING *kid = x ? X509_get0_authority_key_id(x) : NULL;
    ASN1_INTEGER *serial = x ? X509_get_serialNumber(x) : NULL;
    unsigned char *der = NULL, *p;
    char *k = NULL, *s = NULL, *id = NULL;
    int len = serial ? i2d_ASN1_INTEGER(serial, NULL) : 0;

    if (kid && len > 2 && (der = malloc((size_t)len))) {
        p = der;
        i2d_ASN1_INTEGER(serial, &p);
        /* the INTEGER's content octets: after the tag and a short length */
        k = cin_b64url_encode(ASN1_STRING_get0_data(kid), (size_t)ASN1_STRING_length(kid));
        s = der[1] < 0x80 ? cin_b64url_encode(der + 2, (size_t)len - 2) : NULL;
        if (k && s)
            id = cin_asprintf("%s.%s", k, s);
    }
    free(der);
    free(k);
    free(s);
    X509_free(x);
    BIO_free(b);
    ERR_clear_error();
    return id;
}

/* A renewal or reissue replaces its parent's certificate: RFC 9773's
 * "replaces", when this CA offers renewalInfo and issued that certificate. */
static char *replaces_of(acme *a, const cin_order *o)
{
    cin_order parent;
    cin_cert c;
    char *at = NULL, *id = NULL;
    int attempts;

    if (!o->parent_id || !acme_dir_url(a, "renewalInfo"))
        return NULL;
    memset(&parent, 0, sizeof(parent));
    if (cin_store_order_get(a->st, o->parent_id, &parent) != CIN_OK)
        return NULL;
    if (cin_store_order_ca_get(a->st, parent.id, &at, &attempts) == CIN_OK && strcmp(at, a->ca)) {
        free(at); /* issued by another CA: nothing of this one's to replace */
        cin_order_clear(&parent);
        return NULL;
    }
    free(at);
    if (parent.cert_id && cin_store_cert_get(a->st, parent.cert_id, &c) == CIN_OK) {
        id = acme_ari_cert_id(c.chain_pem);
        cin_cert_clear(&c);
    }
    cin_order_clear(&parent);
    return id;
}

int acme_profile_check(acme *a, cin_ca_result *r)
{
    json_t *profiles = json_object_get(json_object_get(a->dir, "meta"), "profiles");

    if (!a->cfg.profile || json_object_get(profiles, a->cfg.profile))
        return CIN_OK;
    acme_failed(r, 400, "ca_error", "The CA offers no such profile",
                "CA %s lists no ACME profile named %s (its directory's meta.profiles)", a->ca,
                a->cfg.profile);
    return CIN_ERR;
}

/* newOrder for o's names; the new order's URL is kept before anything else. */
static int order_register(acme *a, const cin_order *o, acme_order *ord, acme_http_resp *h)
{
    json_t *ids = json_array(), *payload = json_pack("{s:o}", "identifiers", ids);
    char *body = NULL, *replaces = replaces_of(a, o);
    size_t i;
    int rc = CIN_ENOMEM;

    for (i = 0; payload && i < o->nsans; i++)
        json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns", "value", o->sans[i]));
    if (payload && replaces)
        json_object_set_new(payload, "replaces", json_string(replaces));
    if (payload && a->cfg.profile) /* listed: acme_profile_check */
        json_object_set_new(payload, "profile", json_string(a->cfg.profile));
    free(replaces);
    if (payload && (body = json_dumps(payload, JSON_COMPACT)))
        rc = acme_post(a, acme_dir_url(a, "newOrder"), body, NULL, h);
    if (rc == CIN_OK && h->location && take_order(ord, h, 201)) {
        ord->state = json_pack("{s:s, s:O}", "order_url", h->location, "names",
                               json_object_get(ord->json, "identifiers") ?: json_null());
        if (!ord->state || acme_state_save(a->st, a->ca, o->id, ord->state) != CIN_OK) {
            snprintf(a->err, sizeof(a->err), "the ACME order could not be recorded in the store");
            rc = CIN_EIO; /* not used unrecorded: a restart would make a second one */
        }
    }
    json_decref(payload);
    free(body);
    return rc;
}

enum forgot { FORGOT_NOTHING, FORGOT_ACCOUNT, FORGOT_ORDER, REFUSED_ORDER };

/* Does an answer that is no order say that the CA forgot the account or the
 * order?  unauthorized: our order under an account the CA no longer has, or
 * a new order it would not make; tried afresh once. */
static enum forgot forgotten(const acme_http_resp *h, int had_state)
{
    char type[64];

    acme_resp_problem(h, type, sizeof(type));
    if (!strcmp(type, "accountDoesNotExist"))
        return FORGOT_ACCOUNT;
    if (had_state && h->status == 404)
        return FORGOT_ORDER;
    if (!strcmp(type, "unauthorized"))
        return REFUSED_ORDER;
    return FORGOT_NOTHING;
}

int acme_order_get(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r)
{
    acme_http_resp h;
    enum forgot f;
    int round, rc = CIN_ERR;

    memset(&h, 0, sizeof(h));
    for (round = 0; round < ACME_ORDER_ROUNDS; round++) {
        if ((rc = acme_account_ensure(a, r)) != CIN_OK)
            goto done;
        acme_order_clear(ord);
        ord->state = acme_state_load(a->st, a->ca, o->id);
        if (!ord->state && (rc = acme_profile_check(a, r)) != CIN_OK)
            goto done;
        rc = ord->state ? acme_order_fetch(a, ord, &h) : order_register(a, o, ord, &h);
        if (rc != CIN_OK) {
            acme_exchange_failed(a, rc, r);
            goto done;
        }
        if (ord->json)
            goto done;
        f = forgotten(&h, ord->state != NULL);
        if (f == FORGOT_NOTHING || (f == REFUSED_ORDER && round > 0)) {
            acme_from_response(&h, ord->state ? "order" : "new order", r);
            rc = CIN_ERR;
            goto done;
        }
        if (f == FORGOT_ACCOUNT)
            acme_account_forget(a);
        acme_state_save(a->st, a->ca, o->id, NULL);
        acme_resp_clear(&h);
    }
    acme_transient(r, 5, "the CA keeps forgetting the order");
    rc = CIN_ERR;
done:
    acme_resp_clear(&h);
    return rc;
}

/* RFC 8555 8.3: a token is base64url; it becomes a path on every server. */
static int token_valid(const char *t)
{
    size_t n =
        t ? strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") : 0;

    return n > 0 && n <= 256 && t[n] == '\0';
}

/* The challenge type this CA is answered with. */
static const char *challenge_type(const acme *a)
{
    return a->cfg.challenge && *a->cfg.challenge ? a->cfg.challenge : "http-01";
}

static json_t *challenge_of(json_t *authz, const char *type)
{
    json_t *ch, *found = NULL;
    size_t k;

    json_array_foreach(json_object_get(authz, "challenges"), k, ch)
    {
        if (!strcmp(json_string_value(json_object_get(ch, "type")) ?: "", type))
            found = ch;
    }
    return found;
}

/* A dns identifier the handshake can be asked for: lower-case letters,
 * digits, '-' and '.', no wildcard (RFC 8737 3: none for tls-alpn-01). */
static int alpn_name_valid(const char *n)
{
    size_t len = n ? strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-.") : 0;

    return len > 0 && len < 254 && n[len] == '\0' && n[0] != '.';
}

/* http-01: the answer under its token; tls-alpn-01: under the name. */
static int store_answer(acme *a, const cin_order *o, const char *type, const char *name,
                        const char *token, const char *thumb)
{
    time_t now = cin_now(cin_store_services(a->st));
    char *keyauth = cin_asprintf("%s.%s", token, thumb);
    int alpn = !strcmp(type, "tls-alpn-01");
    int rc = keyauth ? cin_store_begin(a->st) : CIN_ENOMEM;

    if (rc == CIN_OK) {
        rc = cin_store_challenge_put(a->st, alpn ? "alpn" : "acme", alpn ? name : token, keyauth,
                                     o->id, now + ACME_CHALLENGE_TTL);
        rc = cin_store_end(a->st, rc);
    }
    free(keyauth);
    return rc;
}

/* A fleet: the CA may reach any host, so it is told to look only once every
 * live host's mirror has the answer just stored. */
static int hosts_answer(acme *a, cin_ca_result *r)
{
    uint64_t gen = cin_store_take_committed_generation(a->st);
    char *lagging = NULL;
    int rc;

    if (!gen)
        return CIN_OK;
    rc = cin_store_hosts_wait(a->st, gen, ACME_HOSTS_WAIT_MS, &lagging);
    if (rc == CIN_EBUSY)
        acme_transient(r, 5,
                       "host %s has not mirrored the challenge answer yet; the CA is asked to "
                       "look once every host can answer",
                       lagging ? lagging : "?");
    free(lagging);
    return rc;
}

/* One authorization: when pending, put its http-01 answer in place and tell
 * the CA to look. */
static int authorize_one(acme *a, const cin_order *o, const char *url, const char *thumb,
                         cin_ca_result *r)
{
    json_t *authz = NULL, *ch;
    const char *token, *type = challenge_type(a), *name;
    acme_http_resp h;
    int rc = acme_post(a, url, NULL, NULL, &h);

    if (rc != CIN_OK) {
        acme_exchange_failed(a, rc, r);
        goto done;
    }
    if (h.status == 200)
        authz = acme_resp_json(&h); /* not inside json_is_object(): a macro */
    if (!json_is_object(authz)) {
        acme_from_response(&h, "authorization", r);
        rc = CIN_ERR;
        goto done;
    }
    /* valid already, or invalid: then the order is invalid and says so */
    if (strcmp(json_string_value(json_object_get(authz, "status")) ?: "", "pending"))
        goto done;
    ch = challenge_of(authz, type);
    token = json_string_value(json_object_get(ch, "token"));
    name = json_string_value(json_object_get(json_object_get(authz, "identifier"), "value"));
    if (!ch || !token_valid(token)) {
        acme_failed(r, 400, "ca_error", "The CA does not offer the configured challenge",
                    "the CA's authorization %s has no usable %s challenge", url, type);
        rc = CIN_ERR;
        goto done;
    }
    if (!strcmp(type, "dns-01")) {
        char *keyauth = cin_asprintf("%s.%s", token, thumb);
        rc = keyauth && alpn_name_valid(name)
                 ? acme_dns_answer(a, o, name, token, keyauth, r)
                 : (acme_failed(r, 400, "ca_error", "dns-01 cannot prove this name",
                                "the CA's authorization names no usable identifier"),
                    CIN_ERR);
        free(keyauth);
        if (rc != CIN_OK)
            goto done;
        goto tell;
    }
    if (!strcmp(type, "tls-alpn-01") &&
        (!alpn_name_valid(name) || json_is_true(json_object_get(authz, "wildcard")))) {
        acme_failed(r, 400, "ca_error", "tls-alpn-01 cannot prove this name",
                    "tls-alpn-01 cannot prove %s%s (RFC 8737: no wildcards); configure the CA "
                    "with another challenge",
                    json_is_true(json_object_get(authz, "wildcard")) ? "*." : "",
                    name ? name : "(no name)");
        rc = CIN_ERR;
        goto done;
    }
    if ((rc = store_answer(a, o, type, name, token, thumb)) != CIN_OK) {
        acme_transient(r, 5, "the challenge answer could not be stored (%s)", cin_strstatus(rc));
        goto done;
    }
    if ((rc = hosts_answer(a, r)) != CIN_OK) {
        if (rc != CIN_EBUSY)
            acme_transient(r, 5, "the fleet's hosts cannot be read (%s)", cin_strstatus(rc));
        goto done;
    }
tell:
    if (strcmp(json_string_value(json_object_get(ch, "status")) ?: "", "pending"))
        goto done; /* the CA is looking already */
    acme_resp_clear(&h);
    rc = acme_post(a, json_string_value(json_object_get(ch, "url")), "{}", NULL, &h);
    if (rc != CIN_OK) {
        acme_exchange_failed(a, rc, r);
    } else if (h.status != 200) {
        acme_from_response(&h, "challenge", r);
        rc = CIN_ERR;
    }
done:
    json_decref(authz);
    acme_resp_clear(&h);
    return rc;
}

int acme_order_authorize(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r)
{
    json_t *authzs = json_object_get(ord->json, "authorizations");
    char *thumb = jws_thumbprint(a->key);
    size_t i;
    int rc = thumb ? CIN_OK : CIN_ENOMEM;

    if (!thumb)
        acme_transient(r, 5, "the account key's thumbprint cannot be made");
    for (i = 0; rc == CIN_OK && i < json_array_size(authzs); i++)
        rc = authorize_one(a, o, json_string_value(json_array_get(authzs, i)), thumb, r);
    if (rc == CIN_OK)
        acme_pending(r, 1); /* the CA validates now; look again soon */
    free(thumb);
    return rc;
}

/* The error of the first failed challenge (the CA's reason in its words). */
static json_t *challenge_error(acme *a, json_t *order)
{
    json_t *authzs = json_object_get(order, "authorizations"), *found = NULL;
    size_t i;

    for (i = 0; !found && i < json_array_size(authzs); i++) {
        acme_http_resp h;
        json_t *az = NULL, *ch;
        size_t k;
        if (acme_post(a, json_string_value(json_array_get(authzs, i)), NULL, NULL, &h) == CIN_OK)
            az = acme_resp_json(&h);
        acme_resp_clear(&h);
        json_array_foreach(json_object_get(az, "challenges"), k, ch)
        {
            json_t *e = json_object_get(ch, "error");
            if (!found && json_is_object(e))
                found = json_incref(e);
        }
        json_decref(az);
    }
    return found;
}

void acme_order_invalid(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r)
{
    json_t *e = challenge_error(a, ord->json);

    if (!e && json_is_object(json_object_get(ord->json, "error")))
        e = json_incref(json_object_get(ord->json, "error"));
    if (e)
        acme_failed_doc(r, e, 400, "The CA declared the order invalid");
    else
        acme_failed(r, 400, "ca_error", "The CA declared the order invalid",
                    "the CA's order is %s and gives no reason", acme_order_status(ord));
    json_decref(e);
    /* a retry starts a new order; its DNS records go */
    acme_dns_cleanup(a->st, a->ca, o->id);
    acme_state_save(a->st, a->ca, o->id, NULL);
}
