/*
 * pkcs12.c - an order's key, certificate and chain as one PKCS#12 file (for
 * IIS, Windows and control panels that import .p12/.pfx), encrypted with a
 * password the administrator chooses. The key comes through the audited key
 * download; the chain first, so a failure leaves no audit line without a file.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "cin_order.h"
#include "cin_util.h"

#define P12_MIN_PASSWORD 8
#define P12_MAX_PASSWORD 1024

static int build(const char *chain_pem, const char *key_pem, const char *password, const char *name,
                 unsigned char **der, size_t *len)
{
    BIO *cb = BIO_new_mem_buf(chain_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    EVP_PKEY *key = NULL;
    X509 *leaf = NULL, *x;
    STACK_OF(X509) *ca = sk_X509_new_null();
    PKCS12 *p12 = NULL;
    unsigned char *out = NULL;
    int n = -1;

    if (!cb || !kb || !ca)
        goto done;
    key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
    leaf = PEM_read_bio_X509(cb, NULL, NULL, NULL);
    if (!key || !leaf)
        goto done;
    while ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(ca, x)) {
            X509_free(x);
            goto done;
        }
    ERR_clear_error(); /* the end of the chain reads as an error */
    /* OpenSSL 3's defaults: AES-256-CBC, PBKDF2 with SHA-256, a SHA-256 MAC */
    p12 = PKCS12_create(password, name, key, leaf, ca, 0, 0, 0, 0, 0);
    if (p12)
        n = i2d_PKCS12(p12, &out);
done:
    PKCS12_free(p12);
    sk_X509_pop_free(ca, X509_free);
    X509_free(leaf);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    if (n <= 0) {
        OPENSSL_free(out);
        return CIN_ECRYPTO;
    }
    *der = malloc((size_t)n);
    if (!*der) {
        OPENSSL_free(out);
        return CIN_ENOMEM;
    }
    memcpy(*der, out, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(out);
    return CIN_OK;
}

int cin_order_pkcs12(cin_store *st, const cin_actor *a, int64_t id, const char *password,
                     unsigned char **der, size_t *len, cin_problem *p)
{
    char *chain = NULL, *key = NULL, name[32];
    size_t plen = password ? strlen(password) : 0;
    int rc;

    *der = NULL;
    *len = 0;
    if (plen < P12_MIN_PASSWORD || plen > P12_MAX_PASSWORD) {
        cin_problem_field(p, 400, "bad_request", "password",
                          "choose a password of %d to %d characters for the PKCS#12 file",
                          P12_MIN_PASSWORD, P12_MAX_PASSWORD);
        return CIN_EINVAL;
    }
    rc = cin_order_chain(st, a, id, &chain, p);
    if (rc != CIN_OK)
        return rc;
    rc = cin_order_key_for(st, a, id, "order.pkcs12_download", &key, p);
    if (rc != CIN_OK) {
        free(chain);
        return rc;
    }
    snprintf(name, sizeof(name), "R-%06lld", (long long)id);
    rc = build(chain, key, password, name, der, len);
    cin_free_secret(key, strlen(key));
    free(chain);
    if (rc != CIN_OK)
        cin_problem_set(p, 500, "internal", "the PKCS#12 file could not be made");
    return rc;
}
