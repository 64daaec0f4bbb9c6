/*
 * cin_store_ca.h - CA configurations in the store.
 *
 * Secrets of a CA configuration (its keys, an ACME account key, an EAB HMAC
 * key) are sealed under the store's KEK; these calls take and return them in
 * the clear, and the caller frees them with cin_free_secret().
 */
#ifndef CIN_STORE_CA_H
#define CIN_STORE_CA_H

#include "cin_store.h"

typedef struct cin_ca_config {
    int64_t id;
    char *name;
    char *kind; /* local | acme */
    char *directory_url;
    char *eab_kid;
    char *trust_pem;
    char *contact;
    char *account_url;
    char *root_pem;
    char *intermediate_pem;
    char *created_at;
    char *preferred_chain; /* ACME: prefer the chain whose root's name contains this */
    char *challenge;       /* ACME: http-01 (NULL), tls-alpn-01 or dns-01 */
    char *dns_update;      /* dns-01: the RFC 2136 server, HOST:PORT (NULL: the hook) */
    char *tsig_name;       /* dns-01: the TSIG key's name (its secret is sealed) */
    char *tsig_alg;        /* dns-01: its algorithm, as "hmac-sha256." */
    int failover_after;    /* attempts before an order moves to the next CA (0: 3) */
    char *profile;         /* ACME profile asked for in newOrder (NULL: the CA's default) */
} cin_ca_config;

void cin_ca_config_clear(cin_ca_config *c);
/* A challenge type the ACME client can answer (http-01, tls-alpn-01, dns-01). */
int cin_ca_challenge_valid(const char *type);
int cin_store_ca_get(cin_store *st, const char *name, cin_ca_config *out);
int cin_store_ca_list(cin_store *st, cin_ca_config **out, size_t *n);
void cin_ca_config_list_free(cin_ca_config *c, size_t n);
/* Insert a new configuration (name unique). */
int cin_store_ca_add(cin_store *st, const cin_ca_config *c, int64_t *id, char **err);
/* Set a plain column (directory_url, account_url, root_pem, intermediate_pem...). */
int cin_store_ca_set(cin_store *st, const char *name, const char *column, const char *value);
/* Sealed columns: root_key, intermediate_key, account_key, eab_hmac. */
int cin_store_ca_set_secret(cin_store *st, const char *name, const char *column, const char *value);
int cin_store_ca_get_secret(cin_store *st, const char *name, const char *column, char **value);

/* ---- CA failover (issue 14), store_failover.c ------------------------------- */

/* The product's CAs, preferred first (*names: free with cin_strv_free). */
int cin_store_product_cas(cin_store *st, const char *product, char ***names, size_t *n);
/* Bind the product to these CAs in this order (in a transaction). */
int cin_store_product_set_cas(cin_store *st, const char *product, char **names, size_t n,
                              char **err);
/* The CA an order is at and its attempts there (CIN_ENOTFOUND: none yet). */
int cin_store_order_ca_get(cin_store *st, int64_t order_id, char **ca, int *attempts);
int cin_store_order_ca_set(cin_store *st, int64_t order_id, const char *ca, int attempts);
/* The CA's --failover-after (3 when not set). */
int cin_store_ca_failover_after(cin_store *st, const char *ca);
/* Has `certinext ca distrust` marked it? (distrust.c) */
int cin_store_ca_distrusted(cin_store *st, const char *ca);

#endif
