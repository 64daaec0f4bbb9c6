/*
 * cin_import.h - certificates a server already has become orders.
 *
 * A certificate with its key (certbot's live/NAME, mod_md's domains/NAME, a
 * PEM pair, a PKCS#12 file) becomes an issued order of kind "import" and
 * price 0 in an account that owns every name it carries.  The key must match
 * the certificate and the chain must hang together (each certificate signed
 * by the next); the chain is not checked against any trust store, so
 * certificates of a private CA are accepted.  The key is sealed in the store;
 * the certificate is served by SNI as soon as the transaction commits, and
 * renews through its product's CA like any other.
 */
#ifndef CIN_IMPORT_H
#define CIN_IMPORT_H

#include "cin_account.h"
#include "cin_store_order.h"

typedef struct cin_import_request {
    const char *account;
    const char *product; /* NULL: the cheapest product whose rules fit the names */
    const char *chain_pem;
    const char *key_pem; /* a secret: never logged */
    const char *source;  /* where it came from, for the audit event */
    int auto_renew;
} cin_import_request;

/* Import one certificate (the provider only).  CIN_OK with *out the new
 * order; CIN_EEXIST (409 already_imported, *out the existing order) when the
 * account already holds this very certificate; otherwise a problem. */
int cin_order_import(cin_store *st, const cin_actor *a, const cin_import_request *r, cin_order *out,
                     cin_problem *p);

/*
 * Find certificate + key pairs under path and call fn for each (source: the
 * file or directory it came from).  path may be a certbot live directory or
 * its parent (or certbot's config directory), a mod_md store (or one of its
 * domains/NAME directories), a PEM file holding both, CERT.pem/.crt with
 * CERT.key beside it, a directory of those, or a PKCS#12 file (.p12/.pfx,
 * opened with p12_password, NULL: empty; one that cannot be opened - a
 * wrong password, an encryption OpenSSL 3 does not read by default - comes
 * to fn with chain_pem and key_pem NULL).  fn's non-zero return stops the
 * walk and is returned.  CIN_ENOTFOUND with *err when nothing was found.
 */
typedef int (*cin_import_fn)(void *ud, const char *source, const char *chain_pem,
                             const char *key_pem);
int cin_import_scan(const char *path, const char *p12_password, cin_import_fn fn, void *ud,
                    char **err);

#endif
