/*
 * acme_int.h - the ACME (RFC 8555) connector's internals; not a public header.
 *
 * The connector is split by purpose, as mod_md splits its md_acme*.c:
 *
 *   jws.c            JSON Web Signatures: the ES256 account key, thumbprints, EAB
 *   acme_http.c      the HTTP client behind acme_http_ops (libcurl's by default,
 *                    a test's scripted CA instead), and what is read from any
 *                    answer: JSON, ACME problem type, Retry-After, Link alternates
 *   acme_account.c   the directory, nonces, signed requests and the account
 *                    (External Account Binding; a forgotten account is made again)
 *   acme_order.c     the CA's order for one of ours, remembered in the store, and
 *                    its http-01 authorizations
 *   acme_finalize.c  finalize with the order's CSR, download, preferred chain
 *   acme.c           the cin_ca_ops connector (submit / poll / revoke / cleanup)
 *                    and the outcomes every step reports in
 *
 * Every step takes the per-call client (acme) and, when it can fail, the
 * cin_ca_result it fills on failure; it returns CIN_OK when the caller may
 * go on.  Nothing here logs: a key, an HMAC key or a token never reaches a
 * log, and outcomes reach the audit log through the agent only.
 */
#ifndef CIN_ACME_INT_H
#define CIN_ACME_INT_H

#include <jansson.h>
#include <openssl/evp.h>

#include "cin_ca.h"
#include "cin_store_ca.h"

/* ---- jws.c --------------------------------------------------------------- */

/* The account key's public JWK ({"crv","kty","x","y"}), new reference. */
json_t *jws_jwk(EVP_PKEY *key);
/* base64url(SHA-256 of the JWK's canonical form): the thumbprint (RFC 7638). */
char *jws_thumbprint(EVP_PKEY *key);
/* A flattened JWS (RFC 7515) signed with ES256 (P-256 key).  Exactly one of
 * kid / jwk is used in the protected header.  payload NULL: POST-as-GET. */
char *jws_es256(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
                const char *payload);
/* The externalAccountBinding object: HS256 over the account JWK. */
json_t *jws_eab(const char *kid, const unsigned char *hmac, size_t hmac_len, const char *url,
                EVP_PKEY *account_key);

/* ---- acme_http.c: the HTTP client ----------------------------------------- */

#define ACME_MAX_LINKS       8           /* Link headers kept from one answer */
#define ACME_RETRY_AFTER_MAX (24 * 3600) /* no CA parks an order for longer */
#define ACME_MAX_BODY        (4 << 20)   /* no CA answer is larger */

/* An answer: the status, the few headers the client needs, the body. */
typedef struct acme_http_resp {
    long status;
    char *body; /* NUL-terminated, len bytes (NULL: none) */
    size_t len;
    char *location;              /* Location */
    char *nonce;                 /* Replay-Nonce */
    char *ctype;                 /* Content-Type */
    char *links[ACME_MAX_LINKS]; /* every Link header's value, in order */
    int nlinks;
    long long retry_after; /* Retry-After as seconds from now, an HTTP date already
                              turned into seconds (libcurl's CURLINFO_RETRY_AFTER):
                              0 when not said, negative for a date past */
} acme_http_resp;

/*
 * The HTTP implementation, as mod_md's md_http: libcurl's (acme_http_curl)
 * unless a test puts a scripted CA in its place (acme_http_use).
 *   open     a client for one connector call, trusting trust_pem (PEM
 *            certificates; NULL: the system's); NULL when none can be made
 *   request  one exchange: method "GET", "HEAD" or "POST"; headers as
 *            "Name: value" lines, NULL-terminated (may be NULL); body for a
 *            POST.  CIN_OK when the server answered, whatever the status, with
 *            *resp filled; else CIN_EIO with a sentence in err and *resp empty.
 *            *resp is initialised in every case; acme_resp_clear frees it.
 *   close    frees the client
 */
typedef struct acme_http_ops {
    void *(*open)(const char *trust_pem);
    int (*request)(void *client, const char *method, const char *url, const char *const *headers,
                   const char *body, acme_http_resp *resp, char *err, size_t errlen);
    void (*close)(void *client);
} acme_http_ops;

extern const acme_http_ops acme_http_curl;
/* The implementation every later connector call uses (NULL: libcurl's).
 * For tests and fuzzing; set it before any agent runs. */
void acme_http_use(const acme_http_ops *ops);
const acme_http_ops *acme_http_impl(void);

void acme_resp_clear(acme_http_resp *h);
/* The body as JSON (new reference), NULL when it is none. */
json_t *acme_resp_json(const acme_http_resp *h);
/* The short name of an ACME problem answer's type ("badNonce"), else "". */
const char *acme_resp_problem(const acme_http_resp *h, char *buf, size_t len);
/* The answer's Retry-After bounded to [1 s, ACME_RETRY_AFTER_MAX]; dflt when
 * the CA said none. */
int acme_retry_after(const acme_http_resp *h, int dflt);
/* The URLs of the answer's Link rel="alternate" targets (RFC 8288), at most
 * max, malloc'd into urls; returns how many. */
int acme_resp_alternates(const acme_http_resp *h, char **urls, int max);

/* ---- acme_account.c: one connector call's client --------------------------- */

typedef struct acme {
    cin_store *st;
    const char *ca; /* the CA configuration's name */
    cin_ca_config cfg;
    const acme_http_ops *http;
    void *client;
    json_t *dir;   /* the CA's directory */
    char *nonce;   /* the next Replay-Nonce to use, or NULL */
    EVP_PKEY *key; /* the account key (ES256) */
    char *kid;     /* the account URL, NULL until registered */
    char err[256]; /* why the last exchange failed (no secrets) */
} acme;

/* The configuration, the HTTP client, the directory and the account key
 * (made and sealed in the store on first use).  On failure r says why; call
 * acme_close in every case. */
int acme_open(acme *a, cin_store *st, const char *ca, cin_ca_result *r);
void acme_close(acme *a);
/* A URL the directory names ("newOrder"), or NULL. */
const char *acme_dir_url(const acme *a, const char *name);
/* A POST signed with the account (kid), payload NULL for POST-as-GET, accept
 * NULL for JSON.  badNonce answers are retried with the nonce they carry, up
 * to 10 in a row.  CIN_OK when the CA answered; else CIN_EIO (unreachable),
 * CIN_EBUSY (badNonce every time), CIN_EINVAL (no URL), CIN_ERR (signing),
 * with a sentence in a->err.  *h is initialised in every case. */
int acme_post(acme *a, const char *url, const char *payload, const char *accept, acme_http_resp *h);
/* Register the account unless it is known (with EAB when configured or
 * required). */
int acme_account_ensure(acme *a, cin_ca_result *r);
/* The CA no longer knows the account: forget it (registered again next). */
int acme_account_forget(acme *a);

/* ---- acme_order.c: the CA's order ------------------------------------------- */

typedef struct acme_order {
    json_t *state;   /* kept in the store: order_url, names, finalized */
    json_t *json;    /* the CA's order object, as last read */
    int retry_after; /* that answer's Retry-After, bounded; 0: none said */
} acme_order;

void acme_order_clear(acme_order *ord);
/* The order's state at CA ca (new reference), NULL when there is none. */
json_t *acme_state_load(cin_store *st, const char *ca, int64_t order_id);
/* Keep state (NULL: forget it). */
int acme_state_save(cin_store *st, const char *ca, int64_t order_id, json_t *state);
/* The order's status at the CA ("pending"...), "" when it says none. */
const char *acme_order_status(const acme_order *ord);
/* Read the order the state names (POST-as-GET), nothing else. */
int acme_order_fetch(acme *a, acme_order *ord, acme_http_resp *h);
/* The CA's order for o: the one the store remembers, else a new one; an
 * order or an account the CA forgot is made afresh. */
int acme_order_get(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r);
/* RFC 9773 CertID ("AKI.serial", base64url) of a chain's leaf, or NULL. */
char *acme_ari_cert_id(const char *chain_pem);
/* The CA configuration's --profile is listed in the directory's
 * meta.profiles (or none is configured): CIN_OK; else FAILED in r. */
int acme_profile_check(acme *a, cin_ca_result *r);
/* Answer every pending authorization's http-01 challenge; PENDING when done. */
int acme_order_authorize(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r);
/* The order is invalid: FAILED with the CA's problem (the first failed
 * challenge's, else the order's); the state is forgotten, so that a retry
 * starts a new order. */
void acme_order_invalid(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r);

/* ---- acme_dns.c: dns-01 --------------------------------------------------------- */

/* Publish _acme-challenge.ident = base64url(SHA-256(keyauth)) the CA's way
 * (remembered in the store under token first) and look for it: CIN_OK when
 * visible (the CA may be told), CIN_EBUSY (PENDING: look again soon), else
 * CIN_ERR; r says why in both cases. */
int acme_dns_answer(acme *a, const cin_order *o, const char *ident, const char *token,
                    const char *keyauth, cin_ca_result *r);
/* Remove the order's published records (best effort); the rows stay for the
 * caller to delete with the other answers. */
void acme_dns_cleanup(cin_store *st, const char *ca, int64_t order_id);

/* ---- acme_finalize.c --------------------------------------------------------- */

/* Finalize with the order's CSR; PENDING (Retry-After) when the CA took it. */
int acme_finalize(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r);
/* Download the chain of a valid order (the preferred one): DONE. */
int acme_download(acme *a, const cin_order *o, acme_order *ord, cin_ca_result *r);

/* ---- acme.c: outcomes ---------------------------------------------------------- */

/* PENDING: ask again after seconds. */
void acme_pending(cin_ca_result *r, int seconds);
/* TRANSIENT (503 ca_unavailable): retried after retry_after (0: backoff). */
void acme_transient(cin_ca_result *r, int retry_after, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* FAILED with our problem (ca_error unless code says otherwise). */
void acme_failed(cin_ca_result *r, int status, const char *code, const char *title, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
/* FAILED with the CA's own problem document doc; status and title fill in
 * what the document does not say. */
void acme_failed_doc(cin_ca_result *r, json_t *doc, int status, const char *title);
/* An answer that is not what was asked for: 5xx and 429 are transient (the
 * CA's Retry-After), a problem document is the CA's own words, anything else
 * our ca_error naming what and the HTTP status. */
void acme_from_response(const acme_http_resp *h, const char *what, cin_ca_result *r);
/* An exchange that did not happen (acme_post's status rc): transient, or
 * FAILED when the CA named no URL for the step. */
void acme_exchange_failed(const acme *a, int rc, cin_ca_result *r);

#endif
