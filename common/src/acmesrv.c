/*
 * acmesrv.c - the ACME server (RFC 8555) at <mount>acme/: customers' own
 * clients order through the same workflow as the REST API.
 *
 * An ACME account is bound (External Account Binding) to a credential, and
 * through it to a user of an account; it acts with that user's role.  The
 * account's own domains are pre-authorized, so an order is `ready` at once;
 * finalize becomes cin_order_create (key_source csr), and the ACME order
 * follows the workflow's order: processing while it waits for approval,
 * payment or issuance, valid once issued, invalid when rejected or
 * cancelled (with the administrator's reason).  Every error is an ACME
 * problem document; nothing is written on bad input; all state is in the
 * store, so any worker or server answers any request.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acmesrv_int.h"
#include "cin_groups.h"
#include "cin_account.h"
#include "cin_agent.h"
#include "cin_crypto.h"
#include "cin_mirror.h"
#include "cin_names.h"
#include "cin_order.h"
#include "cin_security.h"
#include "cin_util.h"
#include "cin_x509.h"
#include "http_int.h"

#define ACME_PATH "/acme/"
#define ERR_NS    "urn:ietf:params:acme:error:"
#define MAX_IDS   100

typedef struct srv {
    cin_core *core;
    cin_store *st;
    const cin_request *req;
    cin_response *resp;
    char *base;      /* https://host/mount/acme/ */
    const char *res; /* the resource path after /acme/ */
    acmesrv_jws jws;
    json_t *payload;   /* the payload as JSON (NULL: POST-as-GET) */
    acmesrv_acct acct; /* when the request was signed by an account (kid) */
    acmesrv_cred cred;
    cin_user user;
    cin_actor actor;
    int have_acct;
} srv;

/* ---- URLs and responses ----------------------------------------------------- */

static int host_ok(const char *h)
{
    size_t n = 0;

    for (; h[n]; n++)
        if (!(isalnum((unsigned char)h[n]) || strchr(".-:[]", h[n])))
            return 0;
    return n > 0 && n <= 300;
}

char *acmesrv_url(const cin_request *req, const char *rest)
{
    const char *host = req->header ? req->header(req->header_ud, "Host") : NULL;
    const char *mount = req->mount ? req->mount : "";

    if (!host || !host_ok(host))
        return NULL;
    return cin_asprintf("https://%s%s" ACME_PATH "%s", host, mount, rest ? rest : "");
}

int acmesrv_is_path(const char *path)
{
    return path && (!strncmp(path, ACME_PATH, sizeof(ACME_PATH) - 1) || !strcmp(path, "/acme"));
}

static char *url(srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *url(srv *s, const char *fmt, ...)
{
    va_list ap;
    char *rest = NULL, *out;

    va_start(ap, fmt);
    if (vasprintf(&rest, fmt, ap) < 0)
        rest = NULL;
    va_end(ap);
    out = rest ? cin_asprintf("%s%s", s->base, rest) : NULL;
    free(rest);
    return out;
}

static void header_own(srv *s, const char *name, char *value)
{
    if (value)
        http_header(s->resp, name, value);
    free(value);
}

static void set_body(srv *s, int status, const char *type, char *body, size_t len)
{
    s->resp->status = status;
    free(s->resp->content_type);
    s->resp->content_type = type ? strdup(type) : NULL;
    free(s->resp->body);
    s->resp->body = body;
    s->resp->body_len = len;
}

static void reply_json(srv *s, int status, json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    set_body(s, status, "application/json", t, t ? strlen(t) : 0);
}

/* An ACME problem (RFC 8555 section 6.7); extra: further members (stolen). */
static void problem_extra(srv *s, int status, const char *type, json_t *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void problem_extra(srv *s, int status, const char *type, json_t *extra, const char *fmt, ...)
{
    cin_problem p = {0};
    va_list ap;
    char *d = NULL, *body;

    va_start(ap, fmt);
    if (vasprintf(&d, fmt, ap) < 0)
        d = NULL;
    va_end(ap);
    p.status = status;
    p.type = cin_asprintf(ERR_NS "%s", type);
    p.detail = d;
    p.extra_json = extra ? json_dumps(extra, JSON_COMPACT) : NULL;
    json_decref(extra);
    body = cin_problem_json(&p);
    cin_problem_clear(&p);
    set_body(s, status, "application/problem+json", body, body ? strlen(body) : 0);
}

#define problem(s, status, type, ...) problem_extra(s, status, type, NULL, __VA_ARGS__)

static void store_problem(srv *s, int rc)
{
    if (rc == CIN_EBUSY || rc == CIN_EUNAVAIL || rc == CIN_EIO) {
        http_header(s->resp, "Retry-After", "1");
        problem(s, 503, "serverInternal", "the store is busy; try again shortly");
    } else {
        problem(s, 500, "serverInternal", "an internal error occurred");
    }
}

/* A workflow problem (cin_problem) as the closest ACME problem. */
static void workflow_problem(srv *s, cin_problem *p)
{
    const char *code = p->code ? p->code : "";
    const char *type = "malformed";

    if (!strcmp(code, "invalid_csr") || !strcmp(code, "csr_mismatch") ||
        !strcmp(code, "weak_key") || (p->field && !strcmp(p->field, "csr")))
        type = "badCSR";
    else if (!strcmp(code, "domain_not_owned"))
        type = "rejectedIdentifier";
    else if (p->status == 403 || p->status == 404)
        type = "unauthorized";
    else if (p->status == 402)
        type = "unauthorized";
    else if (p->status >= 500)
        type = "serverInternal";
    problem(s,
            p->status >= 500   ? p->status
            : p->status == 402 ? 403
            : p->status        ? p->status
                               : 400,
            type, "%s", p->detail ? p->detail : "the request cannot be done");
    cin_problem_clear(p);
}

/*
 * The custom field values an ACME order of product carries: the preset of the
 * credential the ACME account was bound with (an ACME client cannot fill
 * them; *values NULL without one).  When a required field is missing the
 * client is told userActionRequired (RFC 8555 6.7) naming the field and who
 * fixes it, and -1 is returned; checked at newOrder, before any validation
 * work, and again by the order's own check at finalize.
 */
static int preset_fields(srv *s, const char *product, json_t **values)
{
    cin_problem p = {0};
    json_t *clean = NULL;
    int rc = cin_fields_preset_for(s->st, s->acct.account_id, product, s->cred.fields, values);

    if (rc == CIN_OK)
        rc = cin_fields_check(s->st, s->acct.account_id, product, *values, &clean, &p);
    json_decref(clean);
    if (rc == CIN_OK)
        return 0;
    json_decref(*values);
    *values = NULL;
    if (p.status == 400)
        problem(s, 403, "userActionRequired",
                "%s; an ACME client cannot fill custom fields: an administrator of the account "
                "gives them to the ACME credential %s (a new credential with \"fields\"), or "
                "orders %s on the page",
                p.detail ? p.detail : "a custom field is missing", s->cred.name, product);
    else if (p.status)
        workflow_problem(s, &p);
    else
        store_problem(s, rc);
    cin_problem_clear(&p);
    return -1;
}

static char *now_plus(int64_t t)
{
    char buf[21];

    cin_time_rfc3339((time_t)t, buf);
    return strdup(buf);
}

/* ---- identifiers -------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Split canonical "a,b,c" into a malloc'd vector. */
static char **ids_split(const char *canon, size_t *n)
{
    char **v, *dup = strdup(canon), *save = NULL, *t;
    size_t k = 0, cap = 1;
    const char *c;

    for (c = canon; *c; c++)
        cap += *c == ',';
    v = calloc(cap + 1, sizeof(char *));
    if (!v || !dup) {
        free(v);
        free(dup);
        *n = 0;
        return NULL;
    }
    for (t = strtok_r(dup, ",", &save); t && k < cap; t = strtok_r(NULL, ",", &save))
        v[k++] = strdup(t);
    free(dup);
    *n = k;
    return v;
}

static json_t *ids_json(const char *canon)
{
    size_t n = 0, i;
    char **v = ids_split(canon, &n);
    json_t *arr = json_array();

    for (i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string("dns"));
        json_object_set_new(o, "value", json_string(v[i]));
        json_array_append_new(arr, o);
    }
    cin_strv_free(v, n);
    return arr;
}

/* ---- authentication of a POST -------------------------------------------------- */

/* The account (and its credential and user) behind kid; 0, or a problem sent. */
static int load_account(srv *s, int64_t id)
{
    int rc = acmesrv_acct_get(s->st, id, NULL, &s->acct);

    if (rc == CIN_ENOTFOUND) {
        problem(s, 400, "accountDoesNotExist", "no such account");
        return -1;
    }
    if (rc != CIN_OK) {
        store_problem(s, rc);
        return -1;
    }
    s->have_acct = 1;
    return 0;
}

/* The account may act: valid, its credential exists, its user is enabled. */
static int account_usable(srv *s)
{
    int rc;

    if (strcmp(s->acct.status, "valid")) {
        problem(s, 401, "unauthorized", "this account is %s", s->acct.status);
        return -1;
    }
    acmesrv_cred_clear(&s->cred);
    rc = acmesrv_cred_get(s->st, s->acct.credential_id, NULL, &s->cred);
    if (rc == CIN_OK &&
        (s->cred.user_id != s->acct.user_id || s->cred.account_id != s->acct.account_id))
        rc = CIN_ENOTFOUND; /* not the credential it was bound with */
    if (rc == CIN_OK) {
        cin_user_clear(&s->user);
        rc = cin_store_user_get_id(s->st, s->acct.user_id, &s->user);
    }
    if (rc == CIN_ENOTFOUND) {
        problem(s, 401, "unauthorized", "the credential this account was bound with was deleted");
        return -1;
    }
    if (rc != CIN_OK) {
        store_problem(s, rc);
        return -1;
    }
    if (s->user.disabled) {
        problem(s, 401, "unauthorized", "the user this account acts as is disabled");
        return -1;
    }
    /* the account's IP allowlist holds for ACME as for every other front door */
    if (!cin_ip_allowed(s->user.account_allowlist, s->req->peer)) {
        problem(s, 403, "unauthorized", "%s may not be used from %s", s->user.account,
                s->req->peer ? s->req->peer : "this address");
        return -1;
    }
    s->actor.user = &s->user;
    s->actor.peer = s->req->peer;
    return 0;
}

/* Check and verify the JWS of a POST; 0, or a problem was sent.  jwk_mode:
 * 0 kid only, 1 jwk only, 2 either. */
static int authenticate(srv *s, int jwk_mode)
{
    const char *detail = NULL, *ct;
    char *want = NULL, *acct_prefix = NULL;
    EVP_PKEY *key = NULL;
    int rc, ok;

    ct = s->req->header ? s->req->header(s->req->header_ud, "Content-Type") : NULL;
    if (!ct || strncasecmp(ct, "application/jose+json", 21) ||
        (ct[21] && ct[21] != ';' && ct[21] != ' ')) {
        problem(s, 415, "malformed", "send the request as application/jose+json");
        return -1;
    }
    if (s->req->body_len > ACMESRV_BODY_MAX) {
        problem(s, 413, "malformed", "the request is larger than %d bytes", ACMESRV_BODY_MAX);
        return -1;
    }
    if (acmesrv_jws_parse_text(s->req->body ? s->req->body : "", s->req->body_len, &s->jws,
                               &detail) != CIN_OK) {
        problem(s, 400, "malformed", "%s", detail);
        return -1;
    }
    if (!acmesrv_alg_ok(s->jws.alg)) {
        json_t *extra =
            json_pack("{s:[s,s,s,s]}", "algorithms", "RS256", "ES256", "ES384", "EdDSA");
        problem_extra(s, 400, "badSignatureAlgorithm", extra,
                      "the algorithm is not one of RS256, "
                      "ES256, ES384, EdDSA");
        return -1;
    }
    want = cin_asprintf("%s%s", s->base, s->res);
    if (!s->jws.url || !want || strcmp(s->jws.url, want)) {
        free(want);
        problem(s, 401, "unauthorized", "the JWS's \"url\" is not the URL of this request");
        return -1;
    }
    free(want);
    if ((s->jws.kid != NULL) == (s->jws.jwk != NULL)) {
        problem(s, 400, "malformed", "the protected header has one of \"kid\" and \"jwk\"");
        return -1;
    }
    if (s->jws.jwk && jwk_mode == 0) {
        problem(s, 400, "malformed", "this request is signed with the account's key (\"kid\")");
        return -1;
    }
    if (s->jws.kid && jwk_mode == 1) {
        problem(s, 400, "malformed", "a new account is signed with its key (\"jwk\")");
        return -1;
    }
    if (s->jws.kid) {
        char *end;
        long long id;
        acct_prefix = url(s, "acct/");
        if (!acct_prefix || strncmp(s->jws.kid, acct_prefix, strlen(acct_prefix))) {
            free(acct_prefix);
            problem(s, 400, "accountDoesNotExist", "the \"kid\" is not an account of this server");
            return -1;
        }
        id = strtoll(s->jws.kid + strlen(acct_prefix), &end, 10);
        free(acct_prefix);
        if (*end || id <= 0) {
            problem(s, 400, "accountDoesNotExist", "the \"kid\" is not an account of this server");
            return -1;
        }
        if (load_account(s, id))
            return -1;
        {
            json_t *jwk = json_loads(s->acct.jwk, 0, NULL);
            key = acmesrv_jwk_key(jwk);
            json_decref(jwk);
        }
    } else {
        key = acmesrv_jwk_key(s->jws.jwk);
        if (!key) {
            problem(s, 400, "badPublicKey",
                    "the \"jwk\" is not a key this server accepts (RSA of "
                    "2048 bits or more, EC P-256 or P-384, Ed25519)");
            return -1;
        }
    }
    ok = acmesrv_jws_verify(&s->jws, key);
    EVP_PKEY_free(key);
    if (!ok) {
        problem(s, 400, "malformed", "the JWS's signature does not verify");
        return -1;
    }
    /* every nonce is used once */
    if (!s->jws.nonce) {
        problem(s, 400, "badNonce", "the protected header has no \"nonce\"");
        return -1;
    }
    rc = acmesrv_nonce_take(s->st, s->jws.nonce);
    if (rc == CIN_ENOTFOUND) {
        problem(s, 400, "badNonce", "the nonce is unknown, used or expired; use the fresh one");
        return -1;
    }
    if (rc != CIN_OK) {
        store_problem(s, rc);
        return -1;
    }
    if (*s->jws.payload) {
        s->payload = json_loadb(s->jws.payload, s->jws.payload_len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(s->payload)) {
            problem(s, 400, "malformed", "the JWS's payload is not a JSON object");
            return -1;
        }
    }
    if (s->have_acct && account_usable(s))
        return -1;
    return 0;
}

/* ---- directory and nonces ------------------------------------------------------- */

static json_t *profiles(srv *s)
{
    cin_product *list = NULL;
    size_t n = 0, i;
    json_t *j = json_object();

    if (cin_store_product_list(s->st, &list, &n) != CIN_OK)
        return j;
    for (i = 0; i < n; i++) {
        char *d;
        if (!strcmp(list[i].type, "ev"))
            continue; /* EV needs a signatory's consent: not over ACME */
        d = cin_asprintf("%s certificate, up to %d names%s, %d days", list[i].type,
                         list[i].max_names, list[i].wildcard ? " (wildcards allowed)" : "",
                         list[i].max_validity_days);
        json_object_set_new(j, list[i].code, json_string(d ? d : list[i].code));
        free(d);
    }
    cin_product_list_free(list, n);
    return j;
}

static void directory(srv *s)
{
    json_t *j = json_object(), *meta = json_object();

#define SETURL(k, r)                                                                               \
    do {                                                                                           \
        char *u_ = url(s, "%s", r);                                                                \
        json_object_set_new(j, k, json_string(u_ ? u_ : ""));                                      \
        free(u_);                                                                                  \
    } while (0)
    SETURL("newNonce", "new-nonce");
    SETURL("newAccount", "new-account");
    SETURL("newOrder", "new-order");
    SETURL("newAuthz", "new-authz");
    SETURL("revokeCert", "revoke-cert");
    SETURL("keyChange", "key-change");
    SETURL("renewalInfo", "renewal-info");
#undef SETURL
    json_object_set_new(meta, "externalAccountRequired", json_true());
    json_object_set_new(meta, "profiles", profiles(s));
    json_object_set_new(j, "meta", meta);
    reply_json(s, 200, j);
}

/* ---- accounts --------------------------------------------------------------------- */

static json_t *account_json(srv *s, const acmesrv_acct *a)
{
    json_t *j = json_object(), *contact = json_loads(a->contact, 0, NULL);
    char *orders = url(s, "acct/%lld/orders", (long long)a->id);

    json_object_set_new(j, "status", json_string(a->status));
    json_object_set_new(j, "contact", contact ? contact : json_array());
    json_object_set_new(j, "orders", json_string(orders ? orders : ""));
    free(orders);
    return j;
}

/* contact: an array of mailto: URLs; *out its JSON text.  0, or a problem sent. */
static int read_contact(srv *s, json_t *v, char **out)
{
    size_t i;

    *out = NULL;
    if (!v || json_is_null(v)) {
        *out = strdup("[]");
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) > 10) {
        problem(s, 400, "invalidContact", "\"contact\" is an array of up to 10 mailto: URLs");
        return -1;
    }
    for (i = 0; i < json_array_size(v); i++) {
        const char *c = json_string_value(json_array_get(v, i));
        if (!c || strncmp(c, "mailto:", 7) || strlen(c) > 320 || strchr(c, ',') ||
            !strchr(c, '@')) {
            if (c && strncmp(c, "mailto:", 7))
                problem(s, 400, "unsupportedContact", "only mailto: contacts are supported");
            else
                problem(s, 400, "invalidContact", "a contact is one mailto: address");
            return -1;
        }
    }
    *out = json_dumps(v, JSON_COMPACT);
    return 0;
}

static void reply_account(srv *s, int status, const acmesrv_acct *a)
{
    header_own(s, "Location", url(s, "acct/%lld", (long long)a->id));
    reply_json(s, status, account_json(s, a));
}

static void new_account(srv *s)
{
    char *thumb = acmesrv_jwk_thumbprint(s->jws.jwk), *contact = NULL, *eab_url = NULL;
    json_t *eab, *eab_jwk = NULL;
    acmesrv_jws ej;
    acmesrv_cred cred;
    cin_user u;
    acmesrv_acct a;
    unsigned char *hmac = NULL;
    size_t hlen = 0;
    const char *detail;
    int rc, ok;

    memset(&a, 0, sizeof(a));
    memset(&cred, 0, sizeof(cred));
    memset(&u, 0, sizeof(u));
    memset(&ej, 0, sizeof(ej));
    if (!thumb) {
        problem(s, 400, "badPublicKey", "the \"jwk\" is malformed");
        return;
    }
    if (!s->payload) {
        free(thumb);
        problem(s, 400, "malformed", "newAccount needs a payload");
        return;
    }
    rc = acmesrv_acct_get(s->st, 0, thumb, &a);
    if (rc == CIN_OK && strcmp(a.status, "valid")) {
        free(thumb);
        acmesrv_acct_clear(&a);
        problem(s, 401, "unauthorized", "the account with this key is deactivated");
        return;
    }
    if (rc == CIN_OK) {
        /* RFC 8555 section 7.3.1: the existing account, 200 */
        free(thumb);
        reply_account(s, 200, &a);
        acmesrv_acct_clear(&a);
        return;
    }
    if (rc != CIN_ENOTFOUND) {
        free(thumb);
        store_problem(s, rc);
        return;
    }
    if (json_is_true(json_object_get(s->payload, "onlyReturnExisting"))) {
        free(thumb);
        problem(s, 400, "accountDoesNotExist", "no account has this key");
        return;
    }
    if (read_contact(s, json_object_get(s->payload, "contact"), &contact)) {
        free(thumb);
        return;
    }
    eab = json_object_get(s->payload, "externalAccountBinding");
    if (!eab) {
        problem(s, 400, "externalAccountRequired",
                "this server needs External Account Binding: create an ACME credential in your "
                "account and give its key id and HMAC key to your client");
        goto done;
    }
    if (acmesrv_jws_parse(eab, &ej, &detail) != CIN_OK || !ej.kid || ej.nonce || ej.jwk ||
        strncmp(ej.alg, "HS", 2)) {
        problem(s, 400, "malformed",
                "the externalAccountBinding is not an HMAC JWS over the "
                "account key with a \"kid\" (RFC 8555 section 7.3.4)");
        goto done;
    }
    eab_url = url(s, "new-account");
    eab_jwk = json_loadb(ej.payload, ej.payload_len, 0, NULL);
    if (!ej.url || !eab_url || strcmp(ej.url, eab_url) || !eab_jwk ||
        !json_equal(eab_jwk, s->jws.jwk)) {
        problem(s, 400, "malformed",
                "the externalAccountBinding must carry this request's URL "
                "and the account's key");
        goto done;
    }
    rc = acmesrv_cred_get(s->st, 0, ej.kid, &cred);
    if (rc == CIN_OK)
        rc = acmesrv_cred_hmac(s->st, &cred, &hmac, &hlen);
    if (rc == CIN_OK)
        rc = cin_store_user_get_id(s->st, cred.user_id, &u);
    if (rc == CIN_ENOTFOUND || rc == CIN_ECRYPTO) {
        problem(s, 401, "unauthorized", "the External Account Binding's key id is unknown");
        goto done;
    }
    if (rc != CIN_OK) {
        store_problem(s, rc);
        goto done;
    }
    ok = acmesrv_eab_mac_ok(&ej, hmac, hlen);
    if (!ok) {
        problem(s, 401, "unauthorized", "the External Account Binding's MAC does not verify");
        goto done;
    }
    if (u.disabled) {
        problem(s, 401, "unauthorized", "the user of this credential is disabled");
        goto done;
    }
    a.credential_id = cred.id;
    a.user_id = u.id;
    a.account_id = u.account_id;
    a.thumbprint = thumb;
    thumb = NULL;
    a.jwk = json_dumps(s->jws.jwk, JSON_COMPACT | JSON_SORT_KEYS);
    a.status = strdup("valid");
    a.contact = contact;
    contact = NULL;
    rc = cin_store_begin(s->st);
    if (rc == CIN_OK)
        rc = acmesrv_acct_insert(s->st, &a);
    if (rc == CIN_OK) {
        char detail2[96];
        snprintf(detail2, sizeof(detail2), "ACME account %lld bound with %s", (long long)a.id,
                 cred.key_id);
        rc = cin_store_event_add(s->st, u.account_id, 0, u.name, "acme.account.create",
                                 s->req->peer, detail2);
    }
    rc = cin_store_end(s->st, rc);
    if (rc == CIN_EEXIST) {
        /* the same key, registered at the same moment by another request */
        acmesrv_acct_clear(&a);
        problem(s, 409, "malformed", "an account with this key was just created; try again");
    } else if (rc != CIN_OK) {
        store_problem(s, rc);
    } else {
        reply_account(s, 201, &a);
    }
done:
    if (hmac)
        cin_free_secret(hmac, hlen);
    json_decref(eab_jwk);
    free(eab_url);
    free(thumb);
    free(contact);
    acmesrv_jws_clear(&ej);
    acmesrv_cred_clear(&cred);
    cin_user_clear(&u);
    acmesrv_acct_clear(&a);
}

static int64_t seg_id(const char *s, char sep, int *idx)
{
    char *end;
    long long id = strtoll(s, &end, 10);

    if (idx) {
        long k;
        if (*end != sep)
            return 0;
        k = strtol(end + 1, &end, 10);
        if (k < 0 || k >= MAX_IDS)
            return 0;
        *idx = (int)k;
    }
    return *end || id <= 0 || !isdigit((unsigned char)*s) ? 0 : id;
}

static void account_update(srv *s, int64_t id)
{
    json_t *st;
    char *contact = NULL;
    int rc;

    if (id != s->acct.id) {
        problem(s, 401, "unauthorized", "this is not your account");
        return;
    }
    if (!s->payload) {
        reply_account(s, 200, &s->acct);
        return;
    }
    st = json_object_get(s->payload, "status");
    if (st && !(json_is_string(st) && !strcmp(json_string_value(st), "deactivated"))) {
        problem(s, 400, "malformed", "an account's status can only become \"deactivated\"");
        return;
    }
    if (json_object_get(s->payload, "contact")) {
        if (read_contact(s, json_object_get(s->payload, "contact"), &contact))
            return;
        free(s->acct.contact);
        s->acct.contact = contact;
    }
    if (st) {
        free(s->acct.status);
        s->acct.status = strdup("deactivated");
    }
    rc = cin_store_begin(s->st);
    if (rc == CIN_OK)
        rc = acmesrv_acct_update(s->st, &s->acct, s->acct.thumbprint);
    if (rc == CIN_OK && st)
        rc = cin_store_event_add(s->st, s->acct.account_id, 0, s->user.name,
                                 "acme.account.deactivate", s->req->peer, NULL);
    rc = cin_store_end(s->st, rc);
    if (rc == CIN_ECONFLICT)
        problem(s, 401, "unauthorized", "the account was deactivated or its key changed meanwhile");
    else if (rc != CIN_OK)
        store_problem(s, rc);
    else
        reply_account(s, 200, &s->acct);
}

static void key_change(srv *s)
{
    acmesrv_jws in;
    const char *detail;
    EVP_PKEY *key = NULL;
    json_t *inner_payload = NULL, *old_jwk = NULL;
    char *thumb = NULL, *acct_url = NULL, *was = NULL;
    acmesrv_acct other;
    int rc;

    memset(&other, 0, sizeof(other));
    if (!s->payload || acmesrv_jws_parse(s->payload, &in, &detail) != CIN_OK) {
        problem(s, 400, "malformed", "keyChange's payload is a JWS signed with the new key");
        return;
    }
    if (!in.jwk || in.kid || in.nonce || !acmesrv_alg_ok(in.alg) || !in.url ||
        strcmp(in.url, s->jws.url)) {
        problem(s, 400, "malformed", "the inner JWS has the new \"jwk\", this URL and no nonce");
        goto done;
    }
    key = acmesrv_jwk_key(in.jwk);
    if (!key) {
        problem(s, 400, "badPublicKey", "the new key is not one this server accepts");
        goto done;
    }
    if (!acmesrv_jws_verify(&in, key)) {
        problem(s, 400, "malformed", "the inner JWS's signature does not verify");
        goto done;
    }
    inner_payload = json_loadb(in.payload, in.payload_len, 0, NULL);
    old_jwk = json_loads(s->acct.jwk, 0, NULL);
    acct_url = url(s, "acct/%lld", (long long)s->acct.id);
    if (!json_is_object(inner_payload) || !acct_url ||
        !json_is_string(json_object_get(inner_payload, "account")) ||
        strcmp(json_string_value(json_object_get(inner_payload, "account")), acct_url) ||
        !json_equal(json_object_get(inner_payload, "oldKey"), old_jwk)) {
        problem(s, 400, "malformed", "the inner payload names this account and its old key");
        goto done;
    }
    thumb = acmesrv_jwk_thumbprint(in.jwk);
    rc = thumb ? acmesrv_acct_get(s->st, 0, thumb, &other) : CIN_EINVAL;
    if (rc == CIN_OK) {
        header_own(s, "Location", url(s, "acct/%lld", (long long)other.id));
        problem(s, 409, "malformed", "another account has this key");
        goto done;
    }
    was = s->acct.thumbprint;
    s->acct.thumbprint = thumb;
    thumb = NULL;
    free(s->acct.jwk);
    s->acct.jwk = json_dumps(in.jwk, JSON_COMPACT | JSON_SORT_KEYS);
    rc = cin_store_begin(s->st);
    if (rc == CIN_OK)
        rc = acmesrv_acct_update(s->st, &s->acct, was);
    if (rc == CIN_OK)
        rc = cin_store_event_add(s->st, s->acct.account_id, 0, s->user.name, "acme.account.key",
                                 s->req->peer, NULL);
    rc = cin_store_end(s->st, rc);
    if (rc == CIN_EEXIST)
        problem(s, 409, "malformed", "another account has this key");
    else if (rc == CIN_ECONFLICT)
        problem(s, 401, "unauthorized", "the account was deactivated or its key changed meanwhile");
    else if (rc != CIN_OK)
        store_problem(s, rc);
    else
        reply_account(s, 200, &s->acct);
done:
    EVP_PKEY_free(key);
    json_decref(inner_payload);
    json_decref(old_jwk);
    free(thumb);
    free(was);
    free(acct_url);
    acmesrv_acct_clear(&other);
    acmesrv_jws_clear(&in);
}

/* ---- orders ---------------------------------------------------------------------------- */

static int is_status(const char *st, const char *list)
{
    size_t n = strlen(st);
    const char *h;

    for (h = strstr(list, st); h; h = strstr(h + 1, st))
        if ((h == list || h[-1] == ',') && (h[n] == ',' || !h[n]))
            return 1;
    return 0;
}

#define PRE_PAYMENT "pending_approval,pending_signatory,awaiting_payment,pending_csr"
#define HAS_CERT    "issued,expired,revoked,superseded"

/* Pay for the order when the credential says so (an idempotent step). */
static void maybe_pay(srv *s, cin_order *o)
{
    cin_problem p = {0};
    cin_order paid;
    char key[48], *replay = NULL;
    int replay_status = 0;

    if (!s->cred.auto_pay || strcmp(o->status, "awaiting_payment"))
        return;
    /* a sub-account that needs its parent's approval or bills its parent
     * pays automatically only under a policy its parent set */
    if (cin_account_policy_allows(s->st, o->account_id, CIN_POLICY_AUTO_PAY) != 1)
        return;
    snprintf(key, sizeof(key), "acme-pay-%lld", (long long)o->id);
    if (cin_order_pay(s->st, &s->actor, o->id, key, &paid, &replay, &replay_status, &p) == CIN_OK) {
        if (!replay) {
            cin_order_clear(o);
            *o = paid;
            return;
        }
        cin_order_clear(&paid);
    }
    /* not enough credits, a race: the order waits for Pay now in the page */
    free(replay);
    cin_problem_clear(&p);
}

static const char *acme_status(const acmesrv_order *ao, const cin_order *o, int64_t now)
{
    if (o && is_status(o->status, "rejected,cancelled"))
        return "invalid";
    if (ao->deactivated)
        return "invalid"; /* an authorization deactivated before it was valid */
    if (!ao->finalized)
        return ao->expires_at < now ? "invalid" : "ready";
    if (!o)
        return "processing";
    if (is_status(o->status, HAS_CERT))
        return "valid";
    return "processing";
}

static json_t *order_json(srv *s, const acmesrv_order *ao, const cin_order *o)
{
    json_t *j = json_object(), *authz = json_array();
    const char *status = acme_status(ao, o, time(NULL));
    size_t n = 0, i;
    char **v = ids_split(ao->identifiers, &n);
    char *u;
    int64_t *links;

    cin_strv_free(v, n);
    json_object_set_new(j, "status", json_string(status));
    u = now_plus(ao->expires_at);
    json_object_set_new(j, "expires", json_string(u));
    free(u);
    json_object_set_new(j, "identifiers", ids_json(ao->identifiers));
    links = n ? calloc(n, sizeof(*links)) : NULL;
    if (links && acmesrv_authz_links(s->st, ao->id, links, n) != CIN_OK)
        memset(links, 0, n * sizeof(*links)); /* its own URLs show the same state */
    for (i = 0; i < n; i++) {
        /* a pre-authorization the order uses, else its own */
        if (links && links[i])
            u = url(s, "authz/%lld", (long long)links[i]);
        else
            u = url(s, "authz/%lld-%zu", (long long)ao->id, i);
        json_array_append_new(authz, json_string(u ? u : ""));
        free(u);
    }
    free(links);
    json_object_set_new(j, "authorizations", authz);
    u = url(s, "finalize/%lld", (long long)ao->id);
    json_object_set_new(j, "finalize", json_string(u ? u : ""));
    free(u);
    if (ao->product)
        json_object_set_new(j, "profile", json_string(ao->product));
    if (ao->replaces && o) {
        /* nothing more: the renewal is the workflow's */
    }
    if (!strcmp(status, "valid")) {
        u = url(s, "cert/%lld", (long long)ao->id);
        json_object_set_new(j, "certificate", json_string(u ? u : ""));
        free(u);
    }
    if (!strcmp(status, "invalid")) {
        json_t *e = json_object();
        char *d;
        if (o && !strcmp(o->status, "rejected"))
            d = cin_asprintf("R-%06lld was rejected: %s", (long long)o->id,
                             o->rejection_reason ? o->rejection_reason : "no reason given");
        else if (o && !strcmp(o->status, "cancelled"))
            d = cin_asprintf("R-%06lld was cancelled", (long long)o->id);
        else if (ao->deactivated)
            d = strdup("an authorization of this order was deactivated");
        else
            d = strdup("the order expired before it was finalized");
        json_object_set_new(e, "type", json_string(ERR_NS "unauthorized"));
        json_object_set_new(e, "detail", json_string(d ? d : ""));
        json_object_set_new(e, "status", json_integer(403));
        json_object_set_new(j, "error", e);
        free(d);
    }
    return j;
}

static void reply_order(srv *s, int status, const acmesrv_order *ao, const cin_order *o)
{
    const char *st = acme_status(ao, o, time(NULL));

    header_own(s, "Location", url(s, "order/%lld", (long long)ao->id));
    if (!strcmp(st, "processing"))
        http_header(s->resp, "Retry-After", "3");
    reply_json(s, status, order_json(s, ao, o));
}

/* Load the ACME order id of this account (and its workflow order, paying it
 * when the credential says so).  0, or a problem was sent. */
static int acme_reissue(srv *s, int64_t parent, const char *pem, cin_order *out, cin_problem *p);

/* A finalize that came while the bound request was being issued may carry a
 * new key: once that request is issued, its certificate is reissued (free,
 * no approval) for the new CSR, and the ACME order follows the reissue. */
static void reissue_for_csr(srv *s, acmesrv_order *ao, cin_order *o)
{
    cin_problem p = {0};
    cin_order child;
    int same = o->csr_pem && !strcmp(o->csr_pem, ao->csr), rc;

    memset(&child, 0, sizeof(child));
    if (!same && acme_reissue(s, o->id, ao->csr, &child, &p) != CIN_OK) {
        cin_problem_clear(&p);
        return; /* tried again at the next poll */
    }
    if (!same)
        ao->order_id = child.id;
    free(ao->csr);
    ao->csr = NULL;
    rc = cin_store_begin(s->st);
    if (rc == CIN_OK)
        rc = acmesrv_order_update(s->st, ao);
    if (cin_store_end(s->st, rc) == CIN_OK && !same) {
        cin_order_clear(o);
        *o = child;
    } else {
        cin_order_clear(&child);
    }
}

static int load_order(srv *s, int64_t id, acmesrv_order *ao, cin_order *o, int *have)
{
    int rc = id ? acmesrv_order_get(s->st, id, ao) : CIN_ENOTFOUND;

    *have = 0;
    memset(o, 0, sizeof(*o));
    if (rc == CIN_OK && ao->acct_id != s->acct.id) {
        acmesrv_order_clear(ao);
        rc = CIN_ENOTFOUND;
    }
    if (rc == CIN_ENOTFOUND) {
        problem(s, 404, "malformed", "no such order");
        return -1;
    }
    if (rc == CIN_OK && ao->order_id) {
        rc = cin_store_order_get(s->st, ao->order_id, o);
        if (rc == CIN_OK) {
            *have = 1;
            if (ao->finalized && !ao->deactivated)
                maybe_pay(s, o);
            if (ao->finalized && !ao->deactivated && ao->csr && !strcmp(o->status, "issued"))
                reissue_for_csr(s, ao, o);
        }
    }
    if (rc != CIN_OK) {
        acmesrv_order_clear(ao);
        store_problem(s, rc);
        return -1;
    }
    return 0;
}

/* The product for these names: the profile, the credential's, or the
 * cheapest DV product that fits. */
static int pick_product(srv *s, const char *profile, char **names, size_t n, int wild,
                        cin_product *out)
{
    cin_product *list = NULL;
    size_t cnt = 0, i, best = (size_t)-1;
    const char *want = profile ? profile : s->cred.product;
    int rc;

    memset(out, 0, sizeof(*out));
    (void)names;
    if (want) {
        rc = cin_store_product_get(s->st, want, out);
        if (rc == CIN_ENOTFOUND || (rc == CIN_OK && !strcmp(out->type, "ev"))) {
            cin_product_clear(out);
            problem(s, 400, profile ? "invalidProfile" : "malformed",
                    "there is no profile '%s' here; the directory's meta.profiles lists them",
                    want);
            return -1;
        }
        if (rc != CIN_OK) {
            store_problem(s, rc);
            return -1;
        }
        return 0;
    }
    rc = cin_store_product_list(s->st, &list, &cnt);
    if (rc != CIN_OK) {
        store_problem(s, rc);
        return -1;
    }
    for (i = 0; i < cnt; i++) {
        if (strcmp(list[i].type, "dv") || (wild && !list[i].wildcard) ||
            (size_t)list[i].max_names < n)
            continue;
        if (best == (size_t)-1 ||
            cin_product_price(&list[i], n) < cin_product_price(&list[best], n))
            best = i;
    }
    if (best == (size_t)-1) {
        cin_product_list_free(list, cnt);
        problem(s, 400, "rejectedIdentifier", "no DV product allows these %zu names%s", n,
                wild ? " with a wildcard" : "");
        return -1;
    }
    *out = list[best];
    memset(&list[best], 0, sizeof(list[best]));
    cin_product_list_free(list, cnt);
    return 0;
}

/* The most new orders (and pre-authorizations) an ACME account makes in 3 hours. */
static int64_t rate_limit(srv *s)
{
    char *rate = NULL;
    int64_t limit = ACMESRV_RATE_DEFAULT;

    if (cin_store_setting_get(s->st, ACMESRV_SETTING_RATE, &rate) == CIN_OK) {
        long long l = strtoll(rate, NULL, 10);
        if (l > 0)
            limit = l;
    }
    free(rate);
    return limit;
}

/* The order's names that the account pre-authorized (newAuthz) use those
 * authorizations (RFC 8555 section 7.4.1): deactivating one then makes the
 * order invalid.  In the caller's transaction. */
static int link_preauths(srv *s, const acmesrv_order *ao, char **names, size_t n)
{
    int64_t *ids = NULL;
    char **pre = NULL;
    size_t np = 0, i, k;
    int rc = acmesrv_authz_preauths(s->st, s->acct.id, (int64_t)time(NULL), &ids, &pre, &np);

    for (i = 0; rc == CIN_OK && np && i < n; i++) {
        for (k = 0; k < np && strcmp(pre[k], names[i]); k++)
            ; /* a wildcard never matches: a pre-authorization is of the exact name */
        if (k < np) {
            acmesrv_authz z;
            memset(&z, 0, sizeof(z));
            z.acct_id = s->acct.id;
            z.identifier = names[i];
            z.order_ref = ao->id;
            z.idx = (int)i;
            z.status = (char *)"valid";
            z.expires_at = ao->expires_at;
            z.preauth = ids[k];
            rc = acmesrv_authz_insert(s->st, &z);
        }
    }
    free(ids);
    cin_strv_free(pre, np);
    return rc;
}

/* The certificate a `replaces` (RFC 9773: base64url(AKI).base64url(serial))
 * names, as the order that holds it; 0 or a problem sent. */
static int replaces_order(srv *s, const char *certid, int64_t *order_id);

static void new_order(srv *s)
{
    json_t *ids = json_object_get(s->payload, "identifiers"), *v;
    const char *profile = NULL, *replaces = NULL;
    char **names = NULL, *canon = NULL, *err = NULL;
    json_t *sub = json_array();
    size_t n = 0, i, len = 0;
    int wild = 0, rc;
    cin_product prod;
    acmesrv_order ao;
    cin_order o;
    int64_t limit = ACMESRV_RATE_DEFAULT, count = 0, bound = 0, replaced = 0, oldest = 0;

    memset(&prod, 0, sizeof(prod));
    memset(&ao, 0, sizeof(ao));
    memset(&o, 0, sizeof(o));
    if (!s->payload || !json_is_array(ids) || json_array_size(ids) == 0 ||
        json_array_size(ids) > MAX_IDS) {
        problem(s, 400, "malformed", "newOrder needs 1 to %d identifiers", MAX_IDS);
        goto done;
    }
    if (json_object_get(s->payload, "notBefore") || json_object_get(s->payload, "notAfter")) {
        problem(s, 400, "malformed",
                "notBefore and notAfter are not supported; the product "
                "sets the validity");
        goto done;
    }
    v = json_object_get(s->payload, "profile");
    if (v && !(profile = json_string_value(v))) {
        problem(s, 400, "malformed", "\"profile\" is a string");
        goto done;
    }
    v = json_object_get(s->payload, "replaces");
    if (v && !(replaces = json_string_value(v))) {
        problem(s, 400, "malformed", "\"replaces\" is a string");
        goto done;
    }
    names = calloc(json_array_size(ids) + 1, sizeof(char *));
    if (!names) {
        store_problem(s, CIN_ENOMEM);
        goto done;
    }
    for (i = 0; i < json_array_size(ids); i++) {
        json_t *id = json_array_get(ids, i);
        const char *type = json_string_value(json_object_get(id, "type"));
        const char *value = json_string_value(json_object_get(id, "value"));
        char *norm = NULL;
        size_t k;
        if (!type || !value) {
            problem(s, 400, "malformed", "an identifier has a \"type\" and a \"value\"");
            goto done;
        }
        if (strcmp(type, "dns")) {
            problem(s, 400, "unsupportedIdentifier", "only dns identifiers are supported");
            goto done;
        }
        if (cin_name_normalize(value, CIN_NAME_WILDCARD | CIN_NAME_PRIVATE, &norm, &err) !=
            CIN_OK) {
            problem(s, 400, "rejectedIdentifier", "%s: %s", value, err ? err : "not a DNS name");
            goto done;
        }
        for (k = 0; k < n && strcmp(names[k], norm); k++)
            ;
        if (k < n) {
            free(norm);
            continue;
        }
        wild |= !strncmp(norm, "*.", 2);
        names[n++] = norm;
    }
    qsort(names, n, sizeof(char *), cmp_str);
    for (i = 0; i < n; i++)
        len += strlen(names[i]) + 1;
    canon = calloc(1, len + 1);
    for (i = 0; canon && i < n; i++) {
        if (i)
            strcat(canon, ",");
        strcat(canon, names[i]);
    }
    if (!canon) {
        store_problem(s, CIN_ENOMEM);
        goto done;
    }
    if (replaces && replaces_order(s, replaces, &replaced))
        goto done;
    if (pick_product(s, profile, names, n, wild, &prod))
        goto done;
    if (wild && !prod.wildcard) {
        problem(s, 400, "rejectedIdentifier", "the product %s does not allow wildcards", prod.code);
        goto done;
    }
    if (n > (size_t)prod.max_names) {
        problem(s, 400, "rejectedIdentifier", "the product %s allows at most %d names", prod.code,
                prod.max_names);
        goto done;
    }
    if (!replaces) {
        /* a renewal carries its order's fields; a new order the credential's */
        json_t *fv = NULL;
        if (preset_fields(s, prod.code, &fv))
            goto done;
        json_decref(fv);
    }
    limit = rate_limit(s);
    rc = cin_store_begin(s->st);
    if (rc != CIN_OK) {
        store_problem(s, rc);
        goto done;
    }
    /* ownership first, whatever the product: in the transaction that writes */
    for (i = 0; i < n; i++) {
        int64_t owner = 0;
        rc = cin_store_domain_owner(s->st, names[i], &owner);
        if (rc != CIN_OK && rc != CIN_ENOTFOUND)
            break;
        rc = CIN_OK;
        if (owner != s->acct.account_id) {
            json_t *sp = json_pack("{s:s,s:s,s:{s:s,s:s}}", "type", ERR_NS "rejectedIdentifier",
                                   "detail", "this name is not among your account's domains",
                                   "identifier", "type", "dns", "value", names[i]);
            json_array_append_new(sub, sp);
        }
    }
    if (rc == CIN_OK && json_array_size(sub)) {
        cin_store_rollback(s->st);
        problem_extra(s, 400, "rejectedIdentifier", json_pack("{s:O}", "subproblems", sub),
                      "%zu of the names are not your account's; your provider assigns them",
                      json_array_size(sub));
        goto done;
    }
    if (rc == CIN_OK)
        rc = acmesrv_order_count_since(s->st, s->acct.user_id,
                                       (int64_t)time(NULL) - ACMESRV_RATE_WINDOW, &count, &oldest);
    if (rc == CIN_OK && count >= limit) {
        char ra[24];
        cin_store_rollback(s->st);
        snprintf(ra, sizeof(ra), "%lld", (long long)(oldest > 0 ? oldest : 60));
        http_header(s->resp, "Retry-After", ra);
        problem(s, 429, "rateLimited",
                "at most %lld new orders per user in 3 hours, over all of the user's ACME accounts",
                (long long)limit);
        goto done;
    }
    /* a client that gave up and came back: the same request, not a new one */
    if (rc == CIN_OK && !replaced)
        rc =
            acmesrv_order_bound(s->st, s->acct.id, canon, PRE_PAYMENT ",processing,failed", &bound);
    if (rc == CIN_OK) {
        ao.acct_id = s->acct.id;
        ao.identifiers = canon;
        canon = NULL;
        ao.product = strdup(prod.code);
        ao.replaces = replaced;
        ao.order_id = bound;
        ao.expires_at = (int64_t)time(NULL) + ACMESRV_ORDER_TTL;
        rc = acmesrv_order_insert(s->st, &ao);
    }
    if (rc == CIN_OK)
        rc = link_preauths(s, &ao, names, n);
    rc = cin_store_end(s->st, rc);
    if (rc != CIN_OK) {
        store_problem(s, rc);
        goto done;
    }
    if (bound && cin_store_order_get(s->st, bound, &o) == CIN_OK)
        reply_order(s, 201, &ao, &o);
    else
        reply_order(s, 201, &ao, NULL);
done:
    if (names)
        cin_strv_free(names, n);
    json_decref(sub);
    free(canon);
    free(err);
    cin_product_clear(&prod);
    acmesrv_order_clear(&ao);
    cin_order_clear(&o);
}

static void get_order(srv *s, int64_t id)
{
    acmesrv_order ao;
    cin_order o;
    int have;

    if (load_order(s, id, &ao, &o, &have))
        return;
    reply_order(s, 200, &ao, have ? &o : NULL);
    acmesrv_order_clear(&ao);
    cin_order_clear(&o);
}

static void list_orders(srv *s, int64_t id)
{
    int64_t *ids = NULL;
    size_t n = 0, i;
    json_t *arr, *j;
    int rc;

    if (id != s->acct.id) {
        problem(s, 401, "unauthorized", "this is not your account");
        return;
    }
    rc = acmesrv_order_ids(s->st, id, &ids, &n);
    if (rc != CIN_OK) {
        store_problem(s, rc);
        return;
    }
    arr = json_array();
    for (i = 0; i < n; i++) {
        char *u = url(s, "order/%lld", (long long)ids[i]);
        json_array_append_new(arr, json_string(u ? u : ""));
        free(u);
    }
    free(ids);
    j = json_object();
    json_object_set_new(j, "orders", arr);
    reply_json(s, 200, j);
}

/* Authorizations.  authz/{order}-{i} (and chall/{order}-{i}): identifier i of
 * an ACME order, pre-authorized (the account owns the name), valid at once;
 * authz/{id}: a pre-authorization from newAuthz (RFC 8555 section 7.4.1).
 * Either may be deactivated (section 7.5.2). */
static json_t *chall_json(srv *s, const char *ref, int64_t created)
{
    json_t *c = json_object();
    char *u = url(s, "chall/%s", ref), *t = now_plus(created);
    char tok[48], *tok64;

    /* a token as RFC 8555 section 8.3 shapes it (base64url); nothing fetches it */
    snprintf(tok, sizeof(tok), "preauthorized-%s", ref);
    tok64 = cin_b64url_encode((const unsigned char *)tok, strlen(tok));
    json_object_set_new(c, "type", json_string("http-01"));
    json_object_set_new(c, "url", json_string(u ? u : ""));
    json_object_set_new(c, "status", json_string("valid"));
    json_object_set_new(c, "token", json_string(tok64 ? tok64 : ""));
    free(tok64);
    json_object_set_new(c, "validated", json_string(t ? t : ""));
    free(u);
    free(t);
    return c;
}

typedef struct authz_view {
    const char *ref;  /* "12-0" or "7" */
    const char *name; /* as ordered: "*.example.com" for a wildcard */
    const char *status;
    int64_t expires, created;
} authz_view;

static void reply_authz(srv *s, int status, const authz_view *v, int chall)
{
    int w = !strncmp(v->name, "*.", 2);
    json_t *j;
    char *e;

    if (chall) {
        char *up = url(s, "authz/%s", v->ref), *link;
        link = up ? cin_asprintf("<%s>;rel=\"up\"", up) : NULL;
        header_own(s, "Link", link);
        free(up);
        reply_json(s, 200, chall_json(s, v->ref, v->created));
        return;
    }
    header_own(s, "Location", url(s, "authz/%s", v->ref));
    j = json_object();
    json_object_set_new(j, "identifier",
                        json_pack("{s:s,s:s}", "type", "dns", "value", w ? v->name + 2 : v->name));
    json_object_set_new(j, "status", json_string(v->status));
    e = now_plus(v->expires);
    json_object_set_new(j, "expires", json_string(e ? e : ""));
    free(e);
    json_object_set_new(j, "challenges", json_pack("[o]", chall_json(s, v->ref, v->created)));
    if (w)
        json_object_set_new(j, "wildcard", json_true());
    reply_json(s, status, j);
}

/* {"status": "deactivated"} asks for deactivation: 1; POST-as-GET (or {}): 0;
 * anything else: -1, a problem sent. */
static int wants_deactivation(srv *s)
{
    json_t *st = s->payload ? json_object_get(s->payload, "status") : NULL;

    if (!st)
        return 0;
    if (json_is_string(st) && !strcmp(json_string_value(st), "deactivated"))
        return 1;
    problem(s, 400, "malformed", "an authorization's status can only become \"deactivated\"");
    return -1;
}

static void authz_pre(srv *s, int64_t id, int chall, int deactivate);

/* A pre-authorization was deactivated: the orders that use it and have no
 * certificate yet become invalid.  In the caller's transaction. */
static int invalidate_users(srv *s, int64_t preauth)
{
    int64_t *ids = NULL;
    size_t n = 0, i;
    int rc = acmesrv_authz_users(s->st, preauth, &ids, &n);

    for (i = 0; rc == CIN_OK && i < n; i++) {
        acmesrv_order ao;
        cin_order o;
        int have = 0;
        rc = acmesrv_order_get(s->st, ids[i], &ao);
        memset(&o, 0, sizeof(o));
        if (rc == CIN_OK && ao.order_id) {
            rc = cin_store_order_get(s->st, ao.order_id, &o);
            have = rc == CIN_OK;
            if (rc == CIN_ENOTFOUND)
                rc = CIN_OK;
        }
        if (rc == CIN_OK && !ao.deactivated &&
            strcmp(acme_status(&ao, have ? &o : NULL, time(NULL)), "valid"))
            rc = acmesrv_order_invalidate(s->st, ao.id);
        acmesrv_order_clear(&ao);
        cin_order_clear(&o);
    }
    free(ids);
    return rc;
}

static void authz_of_order(srv *s, int64_t id, int idx, int chall, int deactivate)
{
    acmesrv_order ao;
    acmesrv_authz z;
    cin_order o;
    int have, rc, deact = 0;
    size_t n = 0;
    char **v, ref[48];
    authz_view view;

    if (load_order(s, id, &ao, &o, &have))
        return;
    memset(&z, 0, sizeof(z));
    v = ids_split(ao.identifiers, &n);
    if ((size_t)idx >= n) {
        problem(s, 404, "malformed", "no such authorization");
        goto done;
    }
    rc = acmesrv_authz_of_order(s->st, ao.id, idx, &z);
    if (rc != CIN_OK && rc != CIN_ENOTFOUND) {
        store_problem(s, rc);
        goto done;
    }
    if (rc == CIN_OK && z.preauth) {
        /* the order uses a pre-authorization: that one answers */
        authz_pre(s, z.preauth, chall, deactivate);
        goto done;
    }
    deact = rc == CIN_OK && !strcmp(z.status, "deactivated");
    if (deactivate && !deact) {
        /* the order can never be ready again: invalid, unless its certificate
         * was issued already (RFC 8555 section 7.1.6) */
        int invalidate = strcmp(acme_status(&ao, have ? &o : NULL, time(NULL)), "valid") != 0;
        char detail[160];
        acmesrv_authz_clear(&z);
        z.acct_id = s->acct.id;
        z.identifier = strdup(strncmp(v[idx], "*.", 2) ? v[idx] : v[idx] + 2);
        z.order_ref = ao.id;
        z.idx = idx;
        z.status = strdup("deactivated");
        z.expires_at = ao.expires_at;
        snprintf(detail, sizeof(detail),
                 "ACME authorization of %.100s deactivated (ACME order %lld)", v[idx],
                 (long long)ao.id);
        rc = cin_store_begin(s->st);
        if (rc == CIN_OK)
            rc = acmesrv_authz_insert(s->st, &z);
        if (rc == CIN_OK && invalidate)
            rc = acmesrv_order_invalidate(s->st, ao.id);
        if (rc == CIN_OK)
            rc = cin_store_event_add(s->st, s->acct.account_id, have ? o.id : 0, s->user.name,
                                     "acme.authz.deactivate", s->req->peer, detail);
        rc = cin_store_end(s->st, rc);
        if (rc != CIN_OK) {
            store_problem(s, rc);
            goto done;
        }
        deact = 1;
    }
    snprintf(ref, sizeof(ref), "%lld-%d", (long long)ao.id, idx);
    view.ref = ref;
    view.name = v[idx];
    view.status = deact ? "deactivated" : "valid";
    view.expires = ao.expires_at;
    view.created = ao.created_at;
    reply_authz(s, 200, &view, chall);
done:
    cin_strv_free(v, n);
    acmesrv_authz_clear(&z);
    acmesrv_order_clear(&ao);
    cin_order_clear(&o);
}

static const char *preauth_status(const acmesrv_authz *z)
{
    if (strcmp(z->status, "valid"))
        return z->status;
    return z->expires_at < (int64_t)time(NULL) ? "expired" : "valid";
}

static void authz_pre(srv *s, int64_t id, int chall, int deactivate)
{
    acmesrv_authz z;
    authz_view view;
    char ref[24];
    int rc = acmesrv_authz_get(s->st, id, &z);

    if (rc == CIN_OK && z.acct_id != s->acct.id)
        rc = CIN_ENOTFOUND; /* another account's: as if it did not exist */
    if (rc == CIN_ENOTFOUND) {
        acmesrv_authz_clear(&z);
        problem(s, 404, "malformed", "no such authorization");
        return;
    }
    if (rc != CIN_OK) {
        acmesrv_authz_clear(&z);
        store_problem(s, rc);
        return;
    }
    if (deactivate && !strcmp(preauth_status(&z), "valid")) {
        char detail[160];
        snprintf(detail, sizeof(detail), "ACME pre-authorization of %.100s deactivated",
                 z.identifier);
        rc = cin_store_begin(s->st);
        if (rc == CIN_OK)
            rc = acmesrv_authz_deactivate(s->st, z.id);
        if (rc == CIN_OK)
            rc = invalidate_users(s, z.id);
        if (rc == CIN_OK)
            rc = cin_store_event_add(s->st, s->acct.account_id, 0, s->user.name,
                                     "acme.authz.deactivate", s->req->peer, detail);
        rc = cin_store_end(s->st, rc);
        if (rc != CIN_OK) {
            acmesrv_authz_clear(&z);
            store_problem(s, rc);
            return;
        }
        free(z.status);
        z.status = strdup("deactivated");
    } else if (deactivate && strcmp(preauth_status(&z), "deactivated")) {
        problem(s, 400, "malformed", "the authorization is %s; only a valid one is deactivated",
                preauth_status(&z));
        acmesrv_authz_clear(&z);
        return;
    }
    snprintf(ref, sizeof(ref), "%lld", (long long)z.id);
    view.ref = ref;
    view.name = z.identifier;
    view.status = preauth_status(&z);
    view.expires = z.expires_at;
    view.created = z.created_at;
    reply_authz(s, 200, &view, chall);
    acmesrv_authz_clear(&z);
}

static void authz(srv *s, const char *seg, int chall)
{
    int idx = 0, deactivate = chall ? 0 : wants_deactivation(s);
    int64_t id = strchr(seg, '-') ? seg_id(seg, '-', &idx) : seg_id(seg, 0, NULL);

    if (deactivate < 0)
        return;
    if (!id)
        problem(s, 404, "malformed", "no such authorization");
    else if (strchr(seg, '-'))
        authz_of_order(s, id, idx, chall, deactivate);
    else
        authz_pre(s, id, chall, deactivate);
}

/* POST new-authz (RFC 8555 section 7.4.1): a pre-authorization of a name the
 * account owns, valid at once; never of a wildcard (the identifier of an
 * authorization is the exact name). */
static void new_authz(srv *s)
{
    json_t *id = s->payload ? json_object_get(s->payload, "identifier") : NULL;
    const char *type = json_string_value(json_object_get(id, "type"));
    const char *value = json_string_value(json_object_get(id, "value"));
    char *norm = NULL, *err = NULL, ref[24];
    int64_t owner = 0, count = 0, limit = rate_limit(s), now = (int64_t)time(NULL);
    acmesrv_authz z;
    authz_view view;
    int rc, reused = 0;

    memset(&z, 0, sizeof(z));
    if (!type || !value) {
        problem(s, 400, "malformed",
                "newAuthz needs an \"identifier\" with a \"type\" and a "
                "\"value\"");
        return;
    }
    if (strcmp(type, "dns")) {
        problem(s, 400, "unsupportedIdentifier", "only dns identifiers are supported");
        return;
    }
    if (!strncmp(value, "*.", 2)) {
        problem(s, 400, "malformed",
                "a wildcard cannot be pre-authorized (RFC 8555 section 7.4.1): put %.200s in a "
                "newOrder",
                value);
        return;
    }
    if (cin_name_normalize(value, CIN_NAME_PRIVATE, &norm, &err) != CIN_OK) {
        problem(s, 400, "rejectedIdentifier", "%.200s: %s", value, err ? err : "not a DNS name");
        free(err);
        return;
    }
    rc = cin_store_begin(s->st);
    if (rc == CIN_OK) {
        /* ownership first, in the transaction that writes */
        rc = cin_store_domain_owner(s->st, norm, &owner);
        if (rc == CIN_ENOTFOUND)
            rc = CIN_OK;
    }
    if (rc == CIN_OK && owner != s->acct.account_id) {
        cin_store_rollback(s->st);
        problem(s, 403, "rejectedIdentifier",
                "%s is not among your account's domains; your provider assigns them", norm);
        goto done;
    }
    if (rc == CIN_OK) {
        rc = acmesrv_authz_valid(s->st, s->acct.id, norm, now, &z);
        if (rc == CIN_OK)
            reused = 1; /* the same name again: the authorization it has */
        else if (rc == CIN_ENOTFOUND)
            rc = acmesrv_authz_count_since(s->st, s->acct.id, now - ACMESRV_RATE_WINDOW, &count);
    }
    if (rc == CIN_OK && !reused && count >= limit) {
        cin_store_rollback(s->st);
        http_header(s->resp, "Retry-After", "600");
        problem(s, 429, "rateLimited", "at most %lld pre-authorizations per account in 3 hours",
                (long long)limit);
        goto done;
    }
    if (rc == CIN_OK && !reused) {
        z.acct_id = s->acct.id;
        z.identifier = strdup(norm);
        z.status = strdup("valid");
        z.expires_at = now + ACMESRV_ORDER_TTL;
        rc = z.identifier && z.status ? acmesrv_authz_insert(s->st, &z) : CIN_ENOMEM;
    }
    rc = cin_store_end(s->st, rc);
    if (rc != CIN_OK) {
        store_problem(s, rc);
        goto done;
    }
    snprintf(ref, sizeof(ref), "%lld", (long long)z.id);
    view.ref = ref;
    view.name = z.identifier;
    view.status = "valid";
    view.expires = z.expires_at;
    view.created = z.created_at;
    reply_authz(s, reused ? 200 : 201, &view, 0);
done:
    free(norm);
    free(err);
    acmesrv_authz_clear(&z);
}

/* The CSR of a finalize (base64url DER) as PEM; NULL when it is not one. */
static char *csr_pem(const char *b64)
{
    size_t len = 0;
    unsigned char *der = b64 ? cin_b64url_decode(b64, &len) : NULL;
    const unsigned char *p = der;
    X509_REQ *req = der ? d2i_X509_REQ(NULL, &p, (long)len) : NULL;
    BIO *b = NULL;
    char *out = NULL, *data;
    long n;

    if (req && p == der + len && (b = BIO_new(BIO_s_mem())) && PEM_write_bio_X509_REQ(b, req) &&
        (n = BIO_get_mem_data(b, &data)) > 0 && (out = malloc((size_t)n + 1))) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    X509_REQ_free(req);
    free(der);
    return out;
}

/* ACME reissues in the lineage of order id, back to its first non-reissue. */
static int reissues_before(srv *s, int64_t id)
{
    int k = 0;

    while (id && k <= ACMESRV_REISSUE_MAX) {
        cin_order o;
        if (cin_store_order_get(s->st, id, &o) != CIN_OK)
            break;
        if (!o.kind || strcmp(o.kind, "reissue")) {
            cin_order_clear(&o);
            break;
        }
        k++;
        id = o.parent_id;
        cin_order_clear(&o);
    }
    return k;
}

/* After issuance, the same names from the same ACME account with a new
 * CSR: a reissue of the lineage's active certificate, with no approval and
 * no charge (the ACME exception to API.md's reissue rule). */
static int acme_reissue(srv *s, int64_t parent, const char *pem, cin_order *out, cin_problem *p)
{
    cin_order child;
    int rc;

    if (reissues_before(s, parent) >= ACMESRV_REISSUE_MAX) {
        cin_problem_set(p, 403, "forbidden",
                        "this certificate was reissued over ACME %d times already; order anew",
                        ACMESRV_REISSUE_MAX);
        return CIN_EPERM;
    }
    rc = cin_order_reissue(s->st, &s->actor, parent, pem, NULL, &child, p);
    if (rc == CIN_ECONFLICT && p->extra_json) {
        /* an open reissue: bind to it instead of answering 409 */
        json_t *x = json_loads(p->extra_json, 0, NULL);
        int64_t open = cin_order_parse_id(json_string_value(json_object_get(x, "open_order")));
        json_decref(x);
        if (open && cin_store_order_get(s->st, open, out) == CIN_OK) {
            cin_problem_clear(p);
            return CIN_OK;
        }
        return rc;
    }
    if (rc != CIN_OK)
        return rc;
    if (!strcmp(child.status, "pending_approval") || !strcmp(child.status, "awaiting_payment")) {
        /* free and pre-approved: straight to issuance */
        rc = cin_store_begin(s->st);
        if (rc == CIN_OK) {
            free(child.status);
            child.status = strdup("processing");
            child.admin_approved = 1;
            rc = cin_store_order_update(s->st, &child);
        }
        if (rc == CIN_OK)
            rc = cin_store_event_add(s->st, child.account_id, child.id, s->user.name,
                                     "order.acme_reissue", s->req->peer,
                                     "reissued over ACME with the client's new key: no approval, "
                                     "no charge");
        rc = cin_store_end(s->st, rc);
        if (rc != CIN_OK) {
            cin_order_clear(&child);
            return cin_problem_from_status(p, rc);
        }
    }
    *out = child;
    return CIN_OK;
}

static void finalize(srv *s, int64_t id)
{
    acmesrv_order ao;
    cin_order o, made;
    cin_problem p = {0};
    const char *b64 = json_string_value(json_object_get(s->payload, "csr"));
    char **names = NULL, *pem = NULL, via[96];
    const char *code = NULL;
    char *err = NULL;
    size_t n = 0;
    int have, rc = CIN_OK, claimed = 0;
    int64_t issued = 0;

    memset(&made, 0, sizeof(made));
    if (load_order(s, id, &ao, &o, &have))
        return;
    if (strcmp(acme_status(&ao, have ? &o : NULL, time(NULL)), "ready")) {
        problem(s, 403, "orderNotReady", "the order is %s, not ready",
                acme_status(&ao, have ? &o : NULL, time(NULL)));
        goto done;
    }
    pem = csr_pem(b64);
    names = ids_split(ao.identifiers, &n);
    if (!pem) {
        problem(s, 400, "badCSR", "\"csr\" is not a base64url DER certificate signing request");
        goto done;
    }
    if (cin_csr_check(pem, names, n, &code, &err) != CIN_OK) {
        problem(s, 400, "badCSR", "%s", err ? err : "the CSR is not valid");
        goto done;
    }
    snprintf(via, sizeof(via), "over ACME (account %lld, credential %s)", (long long)s->acct.id,
             s->cred.key_id);
    /* one finalize at a time: a second one at once is told the order is not ready */
    rc = acmesrv_order_claim(s->st, ao.id, 1);
    if (rc == CIN_ECONFLICT) {
        problem(s, 403, "orderNotReady", "the order is being finalized");
        goto done;
    }
    if (rc != CIN_OK) {
        store_problem(s, rc);
        goto done;
    }
    claimed = 1;
    if (have && is_status(o.status, PRE_PAYMENT)) {
        /* the same request: its CSR replaced, as PUT csr does, audited */
        rc = cin_order_set_csr(s->st, &s->actor, o.id, pem, &made, &p);
    } else if (have && is_status(o.status, "processing,failed")) {
        /* paid, at issuance: this finalize waits for it (a new key is
         * reissued for once it is issued: reissue_for_csr) */
        rc = cin_store_order_get(s->st, o.id, &made);
        if (rc != CIN_OK)
            cin_problem_from_status(&p, rc);
        else if (!o.csr_pem || strcmp(o.csr_pem, pem))
            ao.csr = strdup(pem);
    } else if (ao.replaces) {
        rc = cin_order_renew(s->st, &s->actor, ao.replaces, &made, &p);
        if (rc == CIN_OK && (!made.csr_pem || strcmp(made.csr_pem, pem)) &&
            is_status(made.status, PRE_PAYMENT)) {
            cin_order tmp;
            if (cin_order_set_csr(s->st, &s->actor, made.id, pem, &tmp, &p) == CIN_OK) {
                cin_order_clear(&made);
                made = tmp;
            }
            cin_problem_clear(&p);
        }
    } else {
        rc = acmesrv_order_bound(s->st, s->acct.id, ao.identifiers, "issued", &issued);
        if (rc != CIN_OK) {
            store_problem(s, rc);
            goto done;
        }
        if (issued) {
            /* the same CSR again: the same certificate; a new one: a reissue */
            rc = cin_store_order_get(s->st, issued, &made);
            if (rc != CIN_OK)
                cin_problem_from_status(&p, rc);
            else if (!made.csr_pem || strcmp(made.csr_pem, pem)) {
                cin_order_clear(&made);
                rc = acme_reissue(s, issued, pem, &made, &p);
            }
        } else {
            cin_order_request r = {0};
            json_t *fv = NULL;
            if (preset_fields(s, ao.product, &fv))
                goto done;
            r.product = ao.product;
            r.fields = fv;
            r.common_name = names[0];
            r.sans = (const char **)names;
            r.nsans = n;
            r.key_source = "csr";
            r.csr = pem;
            r.via = via;
            rc = cin_order_create(s->st, &s->actor, &r, &made, &p);
            json_decref(fv);
        }
    }
    if (rc != CIN_OK) {
        workflow_problem(s, &p);
        goto done;
    }
    ao.order_id = made.id;
    ao.finalized = 1;
    rc = cin_store_begin(s->st);
    if (rc == CIN_OK)
        rc = acmesrv_order_update(s->st, &ao);
    if (rc == CIN_OK)
        rc = cin_store_event_add(s->st, made.account_id, made.id, s->user.name, "acme.finalize",
                                 s->req->peer, via);
    if (rc == CIN_OK) /* the orders list shows it came over ACME */
        rc = acmesrv_order_mark_via(s->st, made.id, s->cred.name);
    rc = cin_store_end(s->st, rc);
    if (rc != CIN_OK) {
        store_problem(s, rc);
        goto done;
    }
    claimed = 0;
    maybe_pay(s, &made);
    reply_order(s, 200, &ao, &made);
done:
    if (claimed)
        acmesrv_order_claim(s->st, ao.id, 0); /* the finalize failed: ready again */
    cin_strv_free(names, n);
    free(pem);
    free(err);
    acmesrv_order_clear(&ao);
    cin_order_clear(&o);
    cin_order_clear(&made);
}

static void certificate(srv *s, int64_t id)
{
    acmesrv_order ao;
    cin_order o;
    cin_problem p = {0};
    char *pem = NULL;
    int have;

    if (load_order(s, id, &ao, &o, &have))
        return;
    if (!have || strcmp(acme_status(&ao, &o, time(NULL)), "valid")) {
        problem(s, 404, "malformed", "the order has no certificate yet");
    } else if (cin_order_chain(s->st, &s->actor, o.id, &pem, &p) != CIN_OK) {
        workflow_problem(s, &p);
    } else {
        set_body(s, 200, "application/pem-certificate-chain", pem, strlen(pem));
    }
    acmesrv_order_clear(&ao);
    cin_order_clear(&o);
}

/* ---- certificates by their DER, serial or ARI id ------------------------------------- */

static int cert_lookup(srv *s, int by_serial, const char *arg, int64_t *cert_id, int64_t *order_id)
{
    return acmesrv_cert_find(s->st, by_serial, arg, cert_id, order_id);
}

static X509 *cert_der(const char *b64)
{
    size_t len = 0;
    unsigned char *der = b64 ? cin_b64url_decode(b64, &len) : NULL;
    const unsigned char *p = der;
    X509 *x = der ? d2i_X509(NULL, &p, (long)len) : NULL;

    free(der);
    return x;
}

static void revoke_cert(srv *s)
{
    X509 *x = cert_der(json_string_value(json_object_get(s->payload, "certificate")));
    json_t *reason = json_object_get(s->payload, "reason");
    static const char *const reasons[] = {"unspecified", "keyCompromise",
                                          NULL,          "affiliationChanged",
                                          "superseded",  "cessationOfOperation"};
    unsigned char *der = NULL, md[32];
    char hex[65];
    int len, rc, allowed = 0;
    int64_t cert_id = 0, order_id = 0, rcode = 0;
    cin_order o;
    cin_problem p = {0};
    cin_actor holder = {.name = "acme", .peer = s->req->peer};

    memset(&o, 0, sizeof(o));
    if (!x) {
        problem(s, 400, "malformed", "\"certificate\" is a base64url DER certificate");
        return;
    }
    if (reason && (!json_is_integer(reason) || (rcode = json_integer_value(reason)) < 0 ||
                   rcode > 5 || !reasons[rcode])) {
        X509_free(x);
        problem(s, 400, "badRevocationReason", "the reason is a code from 0 to 5 (but not 2)");
        return;
    }
    len = i2d_X509(x, &der);
    if (len > 0)
        EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL);
    OPENSSL_free(der);
    cin_hex(md, 32, hex);
    rc = len > 0 ? cert_lookup(s, 0, hex, &cert_id, &order_id) : CIN_ENOTFOUND;
    if (rc == CIN_OK)
        rc = cin_store_order_get(s->st, order_id, &o);
    if (rc == CIN_ENOTFOUND) {
        X509_free(x);
        problem(s, 404, "malformed", "this server did not issue that certificate");
        return;
    }
    if (rc != CIN_OK) {
        X509_free(x);
        store_problem(s, rc);
        return;
    }
    if (s->have_acct) {
        /* the account that ordered it: its user's orders, or any of the
         * account's when that user is an administrator */
        allowed = o.account_id == s->acct.account_id &&
                  (!strcmp(s->user.role, "admin") || o.requester_id == s->acct.user_id);
    } else {
        EVP_PKEY *k = acmesrv_jwk_key(s->jws.jwk);
        allowed = k && EVP_PKEY_eq(k, X509_get0_pubkey(x)) == 1;
        EVP_PKEY_free(k);
    }
    X509_free(x);
    if (!allowed) {
        cin_order_clear(&o);
        problem(s, 403, "unauthorized",
                "neither the account that ordered this certificate nor "
                "its key signed this request");
        return;
    }
    if (!strcmp(o.status, "revoked")) {
        cin_order_clear(&o);
        problem(s, 400, "alreadyRevoked", "the certificate is revoked already");
        return;
    }
    {
        cin_order done;
        rc = cin_order_revoke(s->st, s->have_acct ? &s->actor : &holder, o.id,
                              reasons[rcode] ? reasons[rcode] : "unspecified", &done, &p);
        if (rc == CIN_OK)
            cin_order_clear(&done);
    }
    cin_order_clear(&o);
    if (rc != CIN_OK) {
        workflow_problem(s, &p);
        return;
    }
    set_body(s, 200, NULL, NULL, 0);
}

static int replaces_order(srv *s, const char *certid, int64_t *order_id)
{
    const char *dot = strchr(certid, '.');
    unsigned char *serial = NULL;
    size_t len = 0, i;
    char hex[2 * 64 + 1];
    int64_t cert_id = 0;
    cin_order o;
    int rc;

    *order_id = 0;
    if (dot)
        serial = cin_b64url_decode(dot + 1, &len);
    if (!serial || len == 0 || len > 64) {
        free(serial);
        problem(s, 400, "malformed", "\"replaces\" is a certificate's ARI id, AKI.serial");
        return -1;
    }
    for (i = 0; i + 1 < len && serial[i] == 0; i++)
        ;
    cin_hex(serial + i, len - i, hex);
    free(serial);
    /* the store keeps serials as OpenSSL prints them: no leading zero */
    rc = cert_lookup(s, 1, hex, &cert_id, order_id);
    if (rc == CIN_OK) {
        rc = cin_store_order_get(s->st, *order_id, &o);
        if (rc == CIN_OK && o.account_id != s->acct.account_id)
            rc = CIN_ENOTFOUND;
        if (rc == CIN_OK)
            cin_order_clear(&o);
    }
    if (rc == CIN_ENOTFOUND) {
        problem(s, 409, "malformed", "\"replaces\" names no certificate of your account");
        return -1;
    }
    if (rc != CIN_OK) {
        store_problem(s, rc);
        return -1;
    }
    return 0;
}

/* GET renewal-info/{id} (RFC 9773): the window from certinext's renewal
 * point; "now" once the certificate is superseded or revoked. */
static void renewal_info(srv *s, const char *certid)
{
    int64_t cert_id = 0, order_id = 0;
    const char *dot = certid ? strchr(certid, '.') : NULL;
    unsigned char *serial = NULL;
    size_t len = 0, i;
    char hex[2 * 64 + 1];
    cin_cert c;
    json_t *j;
    time_t start, end, now = time(NULL);
    double frac;
    char a[21], b[21], *why = NULL;
    int rc;

    if (dot && dot != certid)
        serial = cin_b64url_decode(dot + 1, &len);
    if (!serial || !len || len > 64) {
        free(serial);
        problem(s, 400, "malformed", "the id is base64url(AKI).base64url(serial)");
        return;
    }
    for (i = 0; i + 1 < len && serial[i] == 0; i++)
        ;
    cin_hex(serial + i, len - i, hex);
    free(serial);
    rc = cert_lookup(s, 1, hex, &cert_id, &order_id);
    if (rc == CIN_OK)
        rc = cin_store_cert_get(s->st, cert_id, &c);
    if (rc == CIN_ENOTFOUND) {
        problem(s, 404, "malformed", "this server did not issue that certificate");
        return;
    }
    if (rc != CIN_OK) {
        store_problem(s, rc);
        return;
    }
    frac = cin_agent_renew_fraction(s->st);
    end = c.lifetime_end;
    start = end - (time_t)(frac * (double)(c.lifetime_end - c.lifetime_start));
    end = start + (end - start) / 2;
    rc = acmesrv_cert_distrust(s->st, cert_id, &why);
    if (rc != CIN_OK && rc != CIN_ENOTFOUND) {
        cin_cert_clear(&c);
        store_problem(s, rc);
        return;
    }
    if (strcmp(c.status, "active") || why) {
        start = now - 60; /* superseded, revoked or its CA distrusted: renew now */
        end = now + 3600;
    }
    cin_time_rfc3339(start, a);
    cin_time_rfc3339(end, b);
    j = json_pack("{s:{s:s,s:s}}", "suggestedWindow", "start", a, "end", b);
    if (why) {
        /* RFC 9773 section 4.2: explanationURL; the page's order says why, and
         * "reason" (not in the RFC) says it in a word for people reading JSON */
        char *page = cin_asprintf("%.*s#/order/R-%06lld", (int)(strlen(s->base) - 5), s->base,
                                  (long long)order_id);
        json_object_set_new(j, "explanationURL", json_string(page ? page : ""));
        json_object_set_new(j, "reason", json_string(why));
        free(page);
        free(why);
    }
    cin_cert_clear(&c);
    http_header(s->resp, "Retry-After", "21600");
    reply_json(s, 200, j);
}

/* ---- entry ---------------------------------------------------------------------------------- */

static void route_post(srv *s)
{
    const char *r = s->res;
    int64_t id;

    if (!strcmp(r, "new-account")) {
        if (!authenticate(s, 1))
            new_account(s);
    } else if (!strcmp(r, "revoke-cert")) {
        if (!authenticate(s, 2)) {
            if (!s->payload)
                problem(s, 400, "malformed", "revokeCert needs a payload");
            else
                revoke_cert(s);
        }
    } else if (authenticate(s, 0)) {
        return;
    } else if (!strcmp(r, "new-order")) {
        new_order(s);
    } else if (!strcmp(r, "new-authz")) {
        new_authz(s);
    } else if (!strcmp(r, "key-change")) {
        key_change(s);
    } else if (!strncmp(r, "acct/", 5) && (id = seg_id(r + 5, 0, NULL))) {
        account_update(s, id);
    } else if (!strncmp(r, "acct/", 5) && strstr(r, "/orders") &&
               (id = strtoll(r + 5, NULL, 10)) > 0) {
        list_orders(s, id);
    } else if (!strncmp(r, "order/", 6)) {
        get_order(s, seg_id(r + 6, 0, NULL));
    } else if (!strncmp(r, "finalize/", 9)) {
        if (!s->payload)
            problem(s, 400, "malformed", "finalize needs a payload with \"csr\"");
        else
            finalize(s, seg_id(r + 9, 0, NULL));
    } else if (!strncmp(r, "authz/", 6)) {
        authz(s, r + 6, 0);
    } else if (!strncmp(r, "chall/", 6)) {
        authz(s, r + 6, 1);
    } else if (!strncmp(r, "cert/", 5)) {
        certificate(s, seg_id(r + 5, 0, NULL));
    } else {
        problem(s, 404, "malformed", "no such resource");
    }
}

void acmesrv_refusal(int status, size_t limit, cin_response *resp)
{
    srv s;

    memset(&s, 0, sizeof(s));
    s.resp = resp;
    if (status == 494)
        status = 431; /* nginx's "headers too large" */
    if (status == 413)
        problem(&s, 413, "malformed", "the request is larger than %zu bytes", limit);
    else if (status >= 500)
        problem(&s, status, "serverInternal", "the server could not take the request; try again");
    else
        problem(&s, status >= 400 ? status : 400, "malformed",
                "the server could not read the request (HTTP %d)", status);
    http_header(resp, "Cache-Control", "no-store");
}

void acmesrv_handle(cin_core *core, const cin_request *req, cin_response *resp)
{
    srv s;
    const char *m = req->method;
    char *nonce = NULL, *dir;

    memset(&s, 0, sizeof(s));
    s.core = core;
    s.req = req;
    s.resp = resp;
    s.res = req->path[5] == '/' ? req->path + 6 : "";
    s.base = acmesrv_url(req, "");
    if (!req->tls) {
        problem(&s, 403, "unauthorized", "ACME is served over HTTPS only");
        goto out;
    }
    if (!s.base) {
        problem(&s, 400, "malformed", "the request has no valid Host header");
        goto out;
    }
    s.st = cin_core_store(core);
    if (!s.st) {
        http_header(resp, "Retry-After", "1");
        problem(&s, 503, "serverInternal", "the store cannot be opened; try again shortly");
        goto out;
    }
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
        if (!strcmp(s.res, "directory"))
            directory(&s);
        else if (!strcmp(s.res, "new-nonce"))
            set_body(&s, !strcmp(m, "HEAD") ? 200 : 204, NULL, NULL, 0);
        else if (!strncmp(s.res, "renewal-info/", 13))
            renewal_info(&s, s.res + 13);
        else
            problem(&s, 405, "malformed", "use POST (POST-as-GET) for this resource");
    } else if (!strcmp(m, "POST")) {
        route_post(&s);
    } else {
        problem(&s, 405, "malformed", "use GET, HEAD or POST");
    }
    if (acmesrv_nonce_new(s.st, &nonce) == CIN_OK) {
        http_header(resp, "Replay-Nonce", nonce);
    } else if (!strcmp(s.res, "new-nonce")) {
        /* never a 200 without the nonce the client came for (dehydrated would
         * sign with an empty one and give up on the badNonce) */
        http_header(resp, "Retry-After", "1");
        problem(&s, 503, "serverInternal", "no nonce could be made; try again shortly");
    }
    free(nonce);
    {
        /* a central store: this host serves what the request changed (a
         * revocation) before the answer goes out, as for the REST API */
        uint64_t gen = cin_store_take_committed_generation(s.st);
        if (gen && cin_mirror_wait(core, gen, 3000) != CIN_OK)
            cin_log(cin_core_services(core), CIN_LOG_WARN,
                    "this host's mirror is behind the store (generation %llu)",
                    (unsigned long long)gen);
    }
out:
    dir = s.base ? cin_asprintf("<%sdirectory>;rel=\"index\"", s.base) : NULL;
    header_own(&s, "Link", dir);
    http_header(resp, "Cache-Control", "no-store");
    if (!resp->status)
        problem(&s, 404, "malformed", "no such resource");
    acmesrv_jws_clear(&s.jws);
    json_decref(s.payload);
    acmesrv_acct_clear(&s.acct);
    acmesrv_cred_clear(&s.cred);
    cin_user_clear(&s.user);
    free(s.base);
}
