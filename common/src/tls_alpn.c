/*
 * tls_alpn.c - tls-alpn-01 (RFC 8737) answered inside the handshake.
 *
 * The ACME client keeps the key authorization of a pending tls-alpn-01
 * challenge in the store's challenge table under the name it proves (kind
 * "alpn"); that moves the generation, and in a fleet every host's mirror has
 * it before the CA is told to look (acme_order.c).  A handshake whose client
 * offers only the acme-tls/1 protocol for such a name is answered with a
 * self-signed certificate for that name carrying the critical
 * id-pe-acmeIdentifier extension: the SHA-256 of the key authorization.
 *
 * What is stored is the key authorization only (no secret: it is what an
 * http-01 answer publishes); each process makes the certificate and a fresh
 * P-256 key on the spot.  That costs one indexed read of the store (or the
 * mirror) and one key generation, only for handshakes offering acme-tls/1
 * alone, never a network call.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "cin_store_order.h"
#include "cin_tls.h"
#include "cin_crypto.h"
#include "cin_util.h"

#define ACME_IDENTIFIER_OID "1.3.6.1.5.5.7.1.31" /* id-pe-acmeIdentifier */

int cin_tls_alpn_only_acme(const unsigned char *in, unsigned int inlen)
{
    static const char proto[] = CIN_ACME_TLS_ALPN;

    return inlen == sizeof(proto) && in[0] == sizeof(proto) - 1 &&
           !memcmp(in + 1, proto, sizeof(proto) - 1);
}

int cin_tls_sni_name(SSL *ssl, char name[256])
{
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    size_t i, len;

    if (!sni || !*sni || (len = strlen(sni)) >= 256)
        return 0;
    for (i = 0; i < len; i++) /* names are stored lower-case */
        name[i] = (char)((sni[i] >= 'A' && sni[i] <= 'Z') ? sni[i] + 32 : sni[i]);
    name[len] = '\0';
    if (len > 1 && name[len - 1] == '.')
        name[len - 1] = '\0';
    return 1;
}

/* The extension's value: DER OCTET STRING of SHA-256(key authorization). */
static X509_EXTENSION *acme_identifier(const char *keyauth)
{
    unsigned char der[2 + 32];
    ASN1_OBJECT *obj = OBJ_txt2obj(ACME_IDENTIFIER_OID, 1);
    ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;

    der[0] = 0x04; /* OCTET STRING */
    der[1] = 32;
    if (obj && val && EVP_Digest(keyauth, strlen(keyauth), der + 2, NULL, EVP_sha256(), NULL) &&
        ASN1_OCTET_STRING_set(val, der, sizeof(der)))
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, val);
    ASN1_OBJECT_free(obj);
    ASN1_OCTET_STRING_free(val);
    return ext;
}

/* A self-signed certificate for name proving keyauth, with a new key. */
static int challenge_make(const char *name, const char *keyauth, X509 **cert, EVP_PKEY **key)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_EXTENSION *ext = NULL;
    GENERAL_NAMES *sans = GENERAL_NAMES_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int ok = 0;

    if (!k || !x || !sans || !gn || !ia5 || RAND_bytes(serial, sizeof(serial)) != 1)
        goto done;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400) ||
        !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                    (const unsigned char *)name, -1, -1, 0) ||
        !X509_set_issuer_name(x, X509_get_subject_name(x)) || !X509_set_pubkey(x, k) ||
        !ASN1_STRING_set(ia5, name, -1))
        goto done;
    GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
    ia5 = NULL;
    if (!sk_GENERAL_NAME_push(sans, gn))
        goto done;
    gn = NULL;
    if (!X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, X509V3_ADD_DEFAULT) ||
        !(ext = acme_identifier(keyauth)) || !X509_add_ext(x, ext, -1) ||
        !X509_sign(x, k, EVP_sha256()))
        goto done;
    ok = 1;
done:
    BN_free(bn);
    X509_EXTENSION_free(ext);
    GENERAL_NAME_free(gn);
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAMES_free(sans);
    if (!ok) {
        ERR_clear_error();
        X509_free(x);
        EVP_PKEY_free(k);
        return -1;
    }
    *cert = x;
    *key = k;
    return 1;
}

int cin_tls_challenge_get(cin_core *core, const char *name, X509 **cert, EVP_PKEY **key)
{
    cin_store *st = cin_core_serving(core); /* the store, or this host's mirror */
    char *keyauth = NULL;
    int rc;

    *cert = NULL;
    *key = NULL;
    if (!st || !name || !*name)
        return 0;
    if (cin_store_challenge_get(st, "alpn", name, &keyauth) != CIN_OK || !keyauth) {
        free(keyauth);
        return 0;
    }
    rc = challenge_make(name, keyauth, cert, key);
    free(keyauth);
    return rc;
}

int cin_tls_challenge_pem(cin_core *core, const char *name, char **cert_pem, char **key_pem)
{
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    BIO *cb = NULL, *kb = NULL;
    char *p;
    long n;
    int rc = cin_tls_challenge_get(core, name, &x, &k);

    *cert_pem = *key_pem = NULL;
    if (rc != 1)
        return rc;
    rc = -1;
    cb = BIO_new(BIO_s_mem());
    kb = BIO_new(BIO_s_secmem());
    if (!cb || !kb || !PEM_write_bio_X509(cb, x) ||
        !PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL))
        goto done;
    n = BIO_get_mem_data(cb, &p);
    *cert_pem = strndup(p, (size_t)n);
    n = BIO_get_mem_data(kb, &p);
    *key_pem = strndup(p, (size_t)n);
    if (*cert_pem && *key_pem) {
        rc = 1;
    } else {
        free(*cert_pem);
        if (*key_pem)
            cin_free_secret(*key_pem, strlen(*key_pem));
        *cert_pem = *key_pem = NULL;
    }
done:
    ERR_clear_error();
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int cin_tls_alpn_challenge(cin_core *core, SSL *ssl, const unsigned char *in, unsigned int inlen)
{
    char name[256];
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    int rc;

    if (!core || !cin_tls_alpn_only_acme(in, inlen) || !cin_tls_sni_name(ssl, name))
        return 0;
    if (cin_tls_challenge_get(core, name, &x, &k) != 1)
        return 0;
    /* only the challenge certificate: none of the server's may be chosen */
    rc = cin_tls_use_only(ssl, x, k, NULL) == 1;
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int cin_tls_alpn_selected_acme(const SSL *ssl)
{
    const unsigned char *p = NULL;
    unsigned int len = 0;

    SSL_get0_alpn_selected(ssl, &p, &len);
    return p && len == sizeof(CIN_ACME_TLS_ALPN) - 1 && !memcmp(p, CIN_ACME_TLS_ALPN, len);
}
