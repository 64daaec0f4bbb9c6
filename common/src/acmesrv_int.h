/*
 * acmesrv_int.h - the ACME server (RFC 8555) that customers' own clients
 * (certbot, lego, dehydrated) use; not a public header.
 *
 *   acmesrv_jws.c    verifying what clients sign: flattened JWS with RS256,
 *                    ES256, ES384 or EdDSA, JWK parsing and thumbprints
 *                    (RFC 7638), External Account Binding (HS256/384/512)
 *   acmesrv_store.c  rows: credentials (HMAC key sealed), ACME accounts,
 *                    nonces, ACME orders bound to the workflow's orders
 *   acmesrv_cred.c   the credential workflow (who may create, list, delete)
 *   acmesrv.c        the protocol: <mount>acme/... as cin_order_* calls
 *   api_acme.c       REST /api/v1/acme/credentials
 */
#ifndef CIN_ACMESRV_INT_H
#define CIN_ACMESRV_INT_H

#include <jansson.h>
#include <openssl/evp.h>

#include "cin_account.h"
#include "cin_acmesrv.h"
#include "cin_http.h"
#include "cin_problem.h"
#include "cin_store.h"

#define ACMESRV_BODY_MAX     (32 * 1024) /* no ACME request is larger */
#define ACMESRV_NONCE_TTL    3600
#define ACMESRV_ORDER_TTL    (7 * 24 * 3600)
#define ACMESRV_RATE_DEFAULT 300 /* new orders per ACME account per window */
#define ACMESRV_RATE_WINDOW  (3 * 3600)
#define ACMESRV_REISSUE_MAX  5 /* ACME reissues per certificate */
#define ACMESRV_HMAC_LEN     32
#define ACMESRV_SETTING_RATE "acme_orders_per_3h"

/* ---- acmesrv_jws.c -------------------------------------------------------- */

typedef struct acmesrv_jws {
    json_t *hdr;       /* the decoded protected header */
    const char *alg;   /* borrowed from hdr */
    const char *nonce; /* may be NULL */
    const char *url;   /* may be NULL */
    const char *kid;   /* may be NULL */
    json_t *jwk;       /* borrowed from hdr, may be NULL */
    char *payload;     /* decoded, NUL-terminated; "" for POST-as-GET */
    size_t payload_len;
    char *signing_input; /* protected "." payload, as sent */
    unsigned char *sig;
    size_t sig_len;
} acmesrv_jws;

/* Parse a flattened JWS (JSON text or object).  CIN_OK, or CIN_EINVAL with
 * *detail (static text) saying what is wrong. */
int acmesrv_jws_parse(json_t *obj, acmesrv_jws *out, const char **detail);
int acmesrv_jws_parse_text(const char *body, size_t len, acmesrv_jws *out, const char **detail);
void acmesrv_jws_clear(acmesrv_jws *j);
/* 1 when alg is one this server verifies (RS256, ES256, ES384, EdDSA). */
int acmesrv_alg_ok(const char *alg);
/* The public key of a JWK (RSA, EC P-256/P-384, OKP Ed25519); NULL when
 * malformed or of another kind. */
EVP_PKEY *acmesrv_jwk_key(json_t *jwk);
/* The RFC 7638 thumbprint (base64url), malloc'd; NULL when malformed. */
char *acmesrv_jwk_thumbprint(json_t *jwk);
/* The JWK of a public key (for tests and key checks), new reference. */
json_t *acmesrv_key_jwk(EVP_PKEY *key);
/* Verify j's signature with key (its alg must fit the key): 1 valid, 0 not. */
int acmesrv_jws_verify(const acmesrv_jws *j, EVP_PKEY *key);
/* Verify an EAB JWS's MAC with hmac (alg HS256/HS384/HS512): 1 valid. */
int acmesrv_eab_mac_ok(const acmesrv_jws *eab, const unsigned char *hmac, size_t len);

/* ---- acmesrv_store.c -------------------------------------------------------- */

/* Insert c (key_id, user_id, account_id, name, product, auto_pay,
 * created_by) with the HMAC key sealed; c->id set.  In a transaction. */
int acmesrv_cred_insert(cin_store *st, acmesrv_cred *c, const unsigned char *hmac, size_t len);
/* By id (key_id NULL) or by key_id. */
int acmesrv_cred_get(cin_store *st, int64_t id, const char *key_id, acmesrv_cred *out);
/* The opened HMAC key (a secret: cin_free_secret). */
int acmesrv_cred_hmac(cin_store *st, const acmesrv_cred *c, unsigned char **hmac, size_t *len);
int acmesrv_cred_delete(cin_store *st, int64_t id);

typedef struct acmesrv_acct {
    int64_t id, credential_id, user_id, account_id;
    char *thumbprint, *jwk, *status, *contact; /* contact: a JSON array text */
} acmesrv_acct;

void acmesrv_acct_clear(acmesrv_acct *a);
int acmesrv_acct_insert(cin_store *st, acmesrv_acct *a);
/* By id (thumbprint NULL) or by thumbprint. */
int acmesrv_acct_get(cin_store *st, int64_t id, const char *thumbprint, acmesrv_acct *out);
/* Write status, contact, jwk and thumbprint back - only while the account is
 * valid and still has the key was_thumbprint; else CIN_ECONFLICT. */
int acmesrv_acct_update(cin_store *st, const acmesrv_acct *a, const char *was_thumbprint);

/* A fresh nonce (stored), malloc'd base64url. */
int acmesrv_nonce_new(cin_store *st, char **out);
/* Use a nonce up: CIN_OK once, CIN_ENOTFOUND when unknown, used or expired. */
int acmesrv_nonce_take(cin_store *st, const char *nonce);

typedef struct acmesrv_order {
    int64_t id, acct_id, replaces, order_id;
    char *identifiers; /* canonical: sorted, lower case, comma-separated */
    char *product;
    char *csr; /* a finalize's CSR kept until the bound order is issued (then reissued) */
    int finalized;
    int deactivated; /* an authorization deactivated before it had a certificate: invalid */
    int64_t expires_at, created_at;
} acmesrv_order;

void acmesrv_order_clear(acmesrv_order *o);
int acmesrv_order_insert(cin_store *st, acmesrv_order *o);
int acmesrv_order_get(cin_store *st, int64_t id, acmesrv_order *out);
/* Write order_id, finalized and csr back. */
int acmesrv_order_update(cin_store *st, const acmesrv_order *o);
/* Mark the order finalized (claim) or not again (a finalize that failed):
 * CIN_ECONFLICT when another finalize has it.  Its own statement (no
 * transaction needed): two finalizes at once never both go on. */
int acmesrv_order_claim(cin_store *st, int64_t id, int claim);
/* New ACME orders of all of the user's ACME accounts since `since`;
 * *free_in: seconds until the oldest of them leaves a window that starts at
 * `since` (0 when none). */
int acmesrv_order_count_since(cin_store *st, int64_t user_id, int64_t since, int64_t *n,
                              int64_t *free_in);
/* The workflow order that acct's ACME orders for these identifiers were
 * bound to, in one of the comma-separated statuses; 0 when none. */
int acmesrv_order_bound(cin_store *st, int64_t acct_id, const char *identifiers,
                        const char *statuses, int64_t *order_id);
/* The certificate whose sha256 (hex, of the DER) or serial (hex, as stored)
 * is value, and its order. */
int acmesrv_cert_find(cin_store *st, int by_serial, const char *value, int64_t *cert_id,
                      int64_t *order_id);
/* The ACME orders of acct (ids, newest first, at most 100). */
int acmesrv_order_ids(cin_store *st, int64_t acct_id, int64_t **ids, size_t *n);

/* Authorizations with a state of their own: pre-authorizations (newAuthz,
 * RFC 8555 section 7.4.1; order_ref 0) and the deactivated authorizations of
 * ACME orders (section 7.5.2; order_ref, idx).  An order's other
 * authorizations are its pre-authorized names, valid while it lives. */
typedef struct acmesrv_authz {
    int64_t id, acct_id, order_ref;
    int64_t preauth; /* an order's: the pre-authorization it uses (0: its own) */
    int idx;
    char *identifier; /* the name, never "*." */
    char *status;     /* valid | deactivated */
    int64_t expires_at, created_at;
} acmesrv_authz;

void acmesrv_authz_clear(acmesrv_authz *z);
int acmesrv_authz_insert(cin_store *st, acmesrv_authz *z);
/* A pre-authorization by id. */
int acmesrv_authz_get(cin_store *st, int64_t id, acmesrv_authz *out);
/* The row of authorization idx of ACME order order_ref (CIN_ENOTFOUND: none). */
int acmesrv_authz_of_order(cin_store *st, int64_t order_ref, int idx, acmesrv_authz *out);
/* acct's newest valid, unexpired pre-authorization of identifier. */
int acmesrv_authz_valid(cin_store *st, int64_t acct_id, const char *identifier, int64_t now,
                        acmesrv_authz *out);
/* acct's valid, unexpired pre-authorizations: ids and names (n of each). */
int acmesrv_authz_preauths(cin_store *st, int64_t acct_id, int64_t now, int64_t **ids,
                           char ***names, size_t *n);
/* The pre-authorization each of the n authorizations of ACME order
 * order_ref uses (0: its own), into preauth[0..n). */
int acmesrv_authz_links(cin_store *st, int64_t order_ref, int64_t *preauth, size_t n);
/* The ACME orders that use pre-authorization preauth. */
int acmesrv_authz_users(cin_store *st, int64_t preauth, int64_t **ids, size_t *n);
/* Pre-authorizations acct asked for since `since`. */
int acmesrv_authz_count_since(cin_store *st, int64_t acct_id, int64_t since, int64_t *n);
int acmesrv_authz_deactivate(cin_store *st, int64_t id);
/* An authorization of ACME order id was deactivated before the order had a
 * certificate: the order is invalid for good (RFC 8555 section 7.1.6). */
int acmesrv_order_invalidate(cin_store *st, int64_t id);
/* Mark workflow order order_id as come over ACME with credential cred_name
 * (orders.via; kept when set already). */
int acmesrv_order_mark_via(cin_store *st, int64_t order_id, const char *cred_name);

/* Why certificate cert_id is to be replaced at once (issue 14's distrust of
 * its CA, "CA NAME distrusted"), malloc'd; CIN_ENOTFOUND when it is not. */
int acmesrv_cert_distrust(cin_store *st, int64_t cert_id, char **reason);

/* ---- acmesrv.c ------------------------------------------------------------------ */

/* https://HOST<mount>/acme/<rest> for this request, malloc'd; NULL when the
 * Host header is missing or malformed. */
char *acmesrv_url(const cin_request *req, const char *rest);
/* 1 when path (mount-relative) is the ACME server's. */
int acmesrv_is_path(const char *path);
void acmesrv_handle(cin_core *core, const cin_request *req, cin_response *resp);
/* A glue's refusal (413: over limit bytes) as an ACME problem (no store). */
void acmesrv_refusal(int status, size_t limit, cin_response *resp);

#endif
